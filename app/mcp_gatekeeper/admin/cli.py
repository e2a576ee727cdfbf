"""``mcp-gatekeeper admin``: talks to the running service's admin API on loopback."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
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


def _request(config: Config, method: str, path: str) -> Any:
    token = config.server.admin_token
    if token is None:
        raise SystemExit("mcp-gatekeeper admin: set server.adminToken (the service needs it too)")
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    try:
        response = httpx.request(method, _base_url(config) + path, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise SystemExit(f"mcp-gatekeeper admin: cannot reach the service: {exc}") from None
    body = response.json() if response.content else None
    if response.status_code >= 400:
        detail = body.get("error_description") if isinstance(body, dict) else response.text
        raise SystemExit(f"mcp-gatekeeper admin: {response.status_code}: {detail}")
    return body


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_admin(config: Config, args: argparse.Namespace) -> int:
    if args.topic == "clients" and args.action == "list":
        result = _request(config, "GET", "/clients")
        if not args.json:
            for client in result:
                name = client["client_name"] or "(no name)"
                line = f"{client['client_id']}  {name}  grants={client['active_grants']}"
                line += f"  tokens={client['live_tokens']}"
                if client["revoked_at"] is not None:
                    line += f"  REVOKED {_utc(client['revoked_at'])}"
                print(line)
            print(f"{len(result)} client(s)", file=sys.stderr)
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
