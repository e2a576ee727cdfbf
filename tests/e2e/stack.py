"""One real stack on loopback, as deployed: a gateway in front of the notes MCP server, with
mcp-gatekeeper as its forward-auth service and authorization server, and the npm OpenID
provider as the upstream identity provider.

Start order breaks the circle "the gateway needs the service's port, the service's config and the
IdP's redirect URIs need the gateway's port": the service's socket is bound first (not listening,
so the gateway's readiness probe is refused quickly), then the gateway, the IdP, and last the
service itself on that socket.
"""

from __future__ import annotations

import shutil
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.main import create_app
from tests.integration.harness import (
    TRUSTED_HOST_HEADERS,
    Gateway,
    GatewayOptions,
    Proc,
    run_gateway,
    start_proc,
    trusted_host_headers,
)
from tests.integration.harness.ports import LOOPBACK
from tests.integration.service import quiet_config, serving
from tests.providers.oidc_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    INSTALL_HINT,
    OIDC_DIR,
    OidcServer,
)
from tests.support import key_pool

ROOT = Path(__file__).resolve().parents[2]
NOTES_SERVER = ROOT / "examples" / "demo" / "notes_mcp_server.py"
#: Two MCP hosts behind one gateway; both loopback names, so http is allowed for both.
HOST_A, HOST_B = "127.0.0.1", "localhost"
ALLOWED_GROUP = "notes-users"
ALLOWED_DOMAIN = r"example\.test"
#: As the notes server declares them in its tools/list ``_meta.scopes``.
SCOPES = [
    {"name": "notes:read", "description": "Read your notes", "tools": ["list_notes", "read_note"]},
    {
        "name": "notes:write",
        "description": "Add and delete notes",
        "tools": ["add_note", "delete_note"],
    },
]
#: Node's OpenID provider can take long to start on a busy 2-core machine.
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Stack:
    gateway: Gateway
    idp: OidcServer
    app: FastAPI

    def origin(self, host: str = HOST_A) -> str:
        return f"http://{host}:{self.gateway.port}"

    def mcp_url(self, host: str = HOST_A) -> str:
        return self.origin(host) + "/mcp"


def ready_line(proc: Proc, log: Path, prefix: str, timeout: float = READY_TIMEOUT) -> str:
    """The first line of the process log that starts with ``prefix``, once it is there."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        found = [line for line in lines if line.startswith(prefix)]
        if found:
            return found[0]
        if proc.returncode is not None or time.monotonic() > deadline:
            pytest.fail(proc.describe(f"no {prefix!r} line from the process"))
        time.sleep(0.02)


@contextmanager
def notes_server(workdir: Path) -> Iterator[int]:
    """The example notes MCP server in its own process; yields its port."""
    log = workdir / "notes.log"
    cmd = [sys.executable, str(NOTES_SERVER), "--host", LOOPBACK, "--port", "0"]
    with start_proc(cmd, log) as proc:
        url = ready_line(proc, log, "READY ").split()[1]
        yield int(url.rsplit(":", 1)[1].split("/")[0])


@contextmanager
def oidc_provider(workdir: Path, redirect_uris: list[str]) -> Iterator[OidcServer]:
    """provider.mjs with our callbacks on the gateway registered (auto-login by login_hint)."""
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"node or tests/e2e/oidc/node_modules/oidc-provider is missing: {INSTALL_HINT}")
    accounts = workdir / "accounts.json"
    accounts.write_text("{}")
    log = workdir / "oidc-provider.log"
    env = {
        "HOST": LOOPBACK,
        "PORT": "0",
        "AUTO_LOGIN": "1",
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "REDIRECT_URIS": ",".join(redirect_uris),
        "ACCOUNTS_FILE": str(accounts),
    }
    with start_proc([node, str(OIDC_DIR / "provider.mjs")], log, env=env) as proc:
        yield OidcServer(ready_line(proc, log, "READY ").split()[1], accounts)


@contextmanager
def gatekeeper(config: Config, sock: socket.socket) -> Iterator[FastAPI]:
    """mcp-gatekeeper under a real uvicorn, in a thread, serving on an already bound socket."""
    app = create_app(config, generate_key=key_pool())
    with serving(quiet_config(app), sockets=[sock]):
        # As a deployment's readiness gate would: tool calls wait until the scopes are learnt.
        url = f"http://{LOOPBACK}:{sock.getsockname()[1]}/readyz"
        deadline = time.monotonic() + READY_TIMEOUT
        while httpx.get(url, trust_env=False).json().get("scopesWaiting") != []:
            if time.monotonic() > deadline:
                raise AssertionError("mcp-gatekeeper never learnt the notes server's scopes")
            time.sleep(0.05)
        yield app


#: Extra ``proxy.hosts[]`` settings by host name (HOST_A, HOST_B), e.g. ``toolPolicy``.
HostSettings = Mapping[str, Mapping[str, Any]]


def stack_config(
    gateway: str, port: int, idp: OidcServer, ca_file: Path, **tokens: str
) -> dict[str, Any]:
    return custom_stack_config(gateway, port, idp, ca_file, tokens=tokens)


def custom_stack_config(
    gateway: str,
    port: int,
    idp: OidcServer,
    ca_file: Path,
    *,
    tokens: Mapping[str, str] | None = None,
    host_settings: HostSettings | None = None,
    notes_port: int | None = None,
) -> dict[str, Any]:
    """``stack_config`` plus extra settings for each host's ``proxy.hosts[]`` entry."""
    settings = host_settings or {}
    return {
        "proxy": {
            "hosts": [
                {"host": f"{name}:{port}", **host_entry(notes_port), **settings.get(name, {})}
                for name in (HOST_A, HOST_B)
            ],
            "trustedHostHeaders": TRUSTED_HOST_HEADERS[gateway],
        },
        "provider": {
            "name": "oidc",
            "issuerURL": idp.issuer,
            "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "allowedGroups": [ALLOWED_GROUP],
            "allowedEmailDomains": [ALLOWED_DOMAIN],
        },
        "tokens": dict(tokens or {}),
        "clients": {"metadataDocuments": {"allowPrivateAddresses": True, "caFile": str(ca_file)}},
        "server": {"host": LOOPBACK},
    }


def host_entry(notes_port: int | None) -> dict[str, Any]:
    """The notes scopes, and the notes server as the host's endpoint: discovery sees that it
    holds 2026-07-28 requests to their Mcp-* headers, so those identify tools."""
    entry: dict[str, Any] = {"scopes": SCOPES}
    if notes_port is not None:
        entry["endpoint"] = f"http://{LOOPBACK}:{notes_port}/mcp"
    return entry


def _gateway_in_front(
    stack: ExitStack, gateway: str, workdir: Path, options: GatewayOptions | None
) -> tuple[socket.socket, Gateway, int]:
    """The notes server and the gateway in front of it, with the socket mcp-gatekeeper will
    serve on bound (not listening yet), and the notes server's port."""
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.bind((LOOPBACK, 0))
    notes_port = stack.enter_context(notes_server(workdir))
    gw = stack.enter_context(
        run_gateway(
            gateway,
            auth_port=sock.getsockname()[1],
            upstream_port=notes_port,
            hosts=[HOST_A, HOST_B],
            workdir=workdir,
            options=options,
        )
    )
    return sock, gw, notes_port


@contextmanager
def run_stack_without_idp(
    gateway: str, workdir: Path, options: GatewayOptions | None = None
) -> Iterator[tuple[Gateway, FastAPI]]:
    """The stack with the built-in demo login instead of the OpenID provider: for checks that
    never sign in (and start faster: no Node process)."""
    with ExitStack() as stack:
        sock, gw, notes_port = _gateway_in_front(stack, gateway, workdir, options)
        settings = {
            "proxy": {
                "hosts": [
                    {"host": f"{name}:{gw.port}", **host_entry(notes_port)}
                    for name in (HOST_A, HOST_B)
                ],
                "trustedHostHeaders": trusted_host_headers(gateway, options),
            },
            "server": {"host": LOOPBACK},
        }
        app = stack.enter_context(gatekeeper(Config.model_validate(settings), sock))
        yield gw, app


@contextmanager
def run_stack(gateway: str, workdir: Path, ca_file: Path, **tokens: str) -> Iterator[Stack]:
    """The whole stack behind ``gateway``; ``tokens`` overrides the ``tokens:`` settings."""
    with run_custom_stack(gateway, workdir, ca_file, tokens=tokens) as stack:
        yield stack


@contextmanager
def run_custom_stack(
    gateway: str,
    workdir: Path,
    ca_file: Path,
    *,
    tokens: Mapping[str, str] | None = None,
    options: GatewayOptions | None = None,
    host_settings: HostSettings | None = None,
) -> Iterator[Stack]:
    """``run_stack`` with the gateway's forward-auth ``options`` (body, ``Mcp-*`` headers) and
    extra ``host_settings`` for each host (``toolPolicy``, ``baseScopes``...)."""
    with ExitStack() as stack:
        sock, gw, notes_port = _gateway_in_front(stack, gateway, workdir, options)
        callbacks = [f"http://{name}:{gw.port}/callback" for name in (HOST_A, HOST_B)]
        idp = stack.enter_context(oidc_provider(workdir, callbacks))
        settings = custom_stack_config(
            gateway,
            gw.port,
            idp,
            ca_file,
            tokens=tokens,
            host_settings=host_settings,
            notes_port=notes_port,
        )
        settings["proxy"]["trustedHostHeaders"] = trusted_host_headers(gateway, options)
        config = Config.model_validate(settings)
        app = stack.enter_context(gatekeeper(config, sock))
        yield Stack(gw, idp, app)
