"""``mcp-gatekeeper admin``: talks to the running service's admin API on loopback."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ..config import Config
from .api import ADMIN_PREFIX


def add_admin_commands(admin: argparse.ArgumentParser) -> None:
    admin.add_argument("--json", action="store_true", help="print raw JSON")
    topics = admin.add_subparsers(dest="topic", required=True)
    clients = topics.add_parser("clients", help="registered MCP clients")
    client_actions = clients.add_subparsers(dest="action", required=True)
    client_actions.add_parser("list", help="list clients with their grants and live tokens")
    create = client_actions.add_parser(
        "create",
        help="make a machine client for client credentials (prints its secret once)",
    )
    create.add_argument("--name", required=True, help="who or what uses it, e.g. nightly-ci")
    # dest "hosts": ``args.host`` is the listen address ``serve --host`` overrides.
    create.add_argument(
        "--host",
        action="append",
        required=True,
        dest="hosts",
        help="an MCP host it may get tokens for (repeat for several)",
    )
    create.add_argument(
        "--scope", action="append", default=[], dest="scopes", help="a scope it may get (repeat)"
    )
    keys = create.add_mutually_exclusive_group()
    keys.add_argument("--jwks-uri", help="private_key_jwt: where its public keys are served")
    keys.add_argument("--jwks-file", help="private_key_jwt: a JSON file of its public keys")
    remove = client_actions.add_parser(
        "revoke",
        help="remove a client and end its grants and tokens (a metadata-document client is "
        "refused until allowed again)",
    )
    remove.add_argument("client_id")
    allow = client_actions.add_parser("allow", help="let a revoked metadata-document client in")
    allow.add_argument("client_id")
    users = topics.add_parser("users", help="signed-in users")
    user_actions = users.add_subparsers(dest="action", required=True)
    user_actions.add_parser("list", help="list users holding a grant, with their clients")
    revoke = user_actions.add_parser("revoke", help="end every grant of a user")
    revoke.add_argument("user", help="subject or email address")


def _base_url(config: Config) -> str:
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a listen address, mapped to loopback)
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.server.port}{ADMIN_PREFIX}"


def _request(config: Config, method: str, path: str, body: Any = None) -> Any:
    token = config.server.admin_token
    if token is None:
        raise SystemExit("mcp-gatekeeper admin: set server.adminToken (the service needs it too)")
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    try:
        response = httpx.request(
            method, _base_url(config) + path, headers=headers, json=body, timeout=10
        )
    except httpx.HTTPError as exc:
        raise SystemExit(f"mcp-gatekeeper admin: cannot reach the service: {exc}") from None
    body = response.json() if response.content else None
    if response.status_code >= 400:
        detail = body.get("error_description") if isinstance(body, dict) else response.text
        raise SystemExit(f"mcp-gatekeeper admin: {response.status_code}: {detail}")
    return body


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _client_line(client: dict[str, Any]) -> str:
    name = client["client_name"] or "(no name)"
    if client.get("kind") == "machine":
        line = f"{client['client_id']}  {name}  machine ({client['source']})"
        line += f"  {client['auth_method']}  hosts={','.join(client['hosts'])}"
        return line + f"  scopes={' '.join(client['scopes'])}  tokens={client['live_tokens']}"
    line = f"{client['client_id']}  {name}  grants={client['active_grants']}"
    line += f"  tokens={client['live_tokens']}"
    if client["revoked_at"] is not None:
        line += f"  REVOKED {_utc(client['revoked_at'])}"
    return line


def _new_machine(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"name": args.name, "hosts": args.hosts, "scopes": args.scopes}
    if args.jwks_uri is not None:
        body["jwks_uri"] = args.jwks_uri
    if args.jwks_file is not None:
        try:
            body["jwks"] = json.loads(Path(args.jwks_file).read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"mcp-gatekeeper admin: cannot read {args.jwks_file}: {exc}") from None
    return body


def _print_created(result: dict[str, Any]) -> None:
    print(f"client_id: {result['client_id']}")
    print(f"auth method: {result['auth_method']}")
    print(f"hosts: {', '.join(result['hosts'])}  scopes: {' '.join(result['scopes'])}")
    if "client_secret" in result:
        print(f"client_secret: {result['client_secret']}")
        print(
            "The secret is shown this once (only its hash is kept): store it now.", file=sys.stderr
        )
    if not result["client_credentials_enabled"]:
        print(
            "warning: grants.clientCredentials.enabled is false: no token is issued until it is on",
            file=sys.stderr,
        )


def run_admin(config: Config, args: argparse.Namespace) -> int:
    if args.topic == "clients" and args.action == "list":
        result = _request(config, "GET", "/clients")
        if not args.json:
            for client in result:
                print(_client_line(client))
            print(f"{len(result)} client(s)", file=sys.stderr)
            return 0
    elif args.topic == "clients" and args.action == "create":
        result = _request(config, "POST", "/clients", _new_machine(args))
        if not args.json:
            _print_created(result)
            return 0
    elif args.topic == "clients":
        # A metadata-document client's id is a URL: its slashes must reach the API as one segment.
        client = quote(args.client_id, safe="")
        if args.action == "allow":
            result = _request(config, "POST", f"/clients/{client}/allow")
        else:
            result = _request(config, "DELETE", f"/clients/{client}")
    elif args.action == "list":
        result = _request(config, "GET", "/users")
        if not args.json:
            for user in result:
                print(f"{user['email']}  ({user['subject']})  tokens={user['live_tokens']}")
                for grant in user["grants"]:
                    checked = _utc(grant["checked_at"])
                    print(f"  {grant['client_id']}  {grant['resource']}  checked {checked}")
            print(f"{len(result)} user(s)", file=sys.stderr)
            return 0
    else:
        result = _request(config, "POST", f"/users/{quote(args.user, safe='')}/revoke")
    print(json.dumps(result, indent=2))
    return 0
