"""Machine clients end to end: a CI job with a secret and a service with its own signing key
(``private_key_jwt``, keys served by URL) get tokens through a real gateway (Traefik, which
shows ``/authenticate`` the SDK's ``Mcp-*`` headers) and call tools of the real notes MCP server
with the real ``mcp`` SDK client. Per-tool scopes and host isolation hold for them as for
people, and ``mcp-gatekeeper probe --token`` accepts their tokens.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_gatekeeper.cli import main
from mcp_gatekeeper.config import Config
from mcp_gatekeeper.probe.resource import INITIALIZE, REQUEST_HEADERS
from tests.e2e.mcp_client import Recorder
from tests.e2e.stack import HOST_A, HOST_B, gatekeeper, host_entry, notes_server
from tests.integration.harness import Gateway, run_gateway, trusted_host_headers
from tests.integration.harness.ports import LOOPBACK
from tests.machine_clients import SECRET, assertion, basic, client_key, jwt_form, public_jwks

pytestmark = pytest.mark.gateway

GATEWAY = "traefik"
READ, WRITE = "notes:read", "notes:write"
CI, SERVICE = "ci-reader", "notes-indexer"
SERVICE_KEY = 3


@dataclass
class KeyServer:
    """The service's public keys over http on loopback, counting how often they are fetched."""

    url: str
    fetches: list[str]


@contextmanager
def key_server(jwks: dict[str, Any]) -> Iterator[KeyServer]:
    body = json.dumps(jwks).encode()
    fetches: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield KeyServer(f"http://{LOOPBACK}:{server.server_address[1]}/jwks.json", fetches)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Stack:
    gateway: Gateway
    keys: KeyServer

    def origin(self, host: str = HOST_A) -> str:
        return f"http://{host}:{self.gateway.port}"

    def mcp_url(self, host: str = HOST_A) -> str:
        return self.origin(host) + "/mcp"

    def token(self, form: dict[str, str], headers: dict[str, str], host: str = HOST_A) -> str:
        """A client_credentials token from ``host``'s token endpoint, through the gateway."""
        response = httpx.post(
            self.origin(host) + "/token",
            data={"grant_type": "client_credentials", **form},
            headers=headers,
            trust_env=False,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def service_token(self, host: str = HOST_A, scope: str | None = None) -> str:
        """The service's token: a fresh assertion for that host's token endpoint."""
        signed = assertion(client_key(SERVICE_KEY), SERVICE, self.origin(host) + "/token")
        form = {"resource": self.mcp_url(host)} | ({"scope": scope} if scope else {})
        return self.token(form | jwt_form(signed), {}, host)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("machine-clients")
    with ExitStack() as running:
        keys = running.enter_context(key_server(public_jwks(client_key(SERVICE_KEY))))
        sock = running.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind((LOOPBACK, 0))
        notes_port = running.enter_context(notes_server(workdir))
        gw = running.enter_context(
            run_gateway(
                GATEWAY,
                auth_port=sock.getsockname()[1],
                upstream_port=notes_port,
                hosts=[HOST_A, HOST_B],
                workdir=workdir,
            )
        )
        host_a, host_b = f"{HOST_A}:{gw.port}", f"{HOST_B}:{gw.port}"
        clients = [
            {"clientID": CI, "secret": SECRET, "hosts": [host_a], "scopes": [READ]},
            {
                "clientID": SERVICE,
                "jwksURI": keys.url,
                "hosts": [host_a, host_b],
                "scopes": [READ, WRITE],
            },
        ]
        settings = {
            "proxy": {
                "hosts": [{"host": host, **host_entry(notes_port)} for host in (host_a, host_b)],
                "trustedHostHeaders": trusted_host_headers(GATEWAY),
            },
            "server": {"host": LOOPBACK},
            "grants": {"clientCredentials": {"enabled": True, "clients": clients}},
        }
        running.enter_context(gatekeeper(Config.model_validate(settings), sock))
        yield Stack(gw, keys)


async def call(url: str, token: str, tool: str, recorder: Recorder, **arguments: Any) -> Any:
    """One tool call with the real SDK client, the token as its bearer."""
    headers = {"Authorization": f"Bearer {token}"}
    hooks = {"response": [recorder.on_response]}
    async with (
        httpx2.AsyncClient(headers=headers, event_hooks=hooks, trust_env=False, timeout=15) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


def initialize(url: str, token: str) -> int:
    """The answer to the probe's ``initialize`` with ``token``."""
    headers = REQUEST_HEADERS | {"authorization": f"Bearer {token}"}
    response = httpx.post(url, json=INITIALIZE, headers=headers, trust_env=False, timeout=10)
    return response.status_code


async def test_a_ci_job_with_a_secret_reads_but_cannot_write(stack: Stack) -> None:
    """Its token carries notes:read only: list_notes runs, add_note is refused with 403
    insufficient_scope, and the server sees the client as the caller."""
    token = stack.token({}, basic(CI, SECRET))
    recorder = Recorder()
    assert "welcome" in (await call(stack.mcp_url(), token, "list_notes", recorder))["result"]
    me = await call(stack.mcp_url(), token, "whoami", recorder)
    assert (me["user"], me["email"], me["scopes"]) == (CI, "", READ)
    with pytest.raises(BaseException):  # noqa: B017 (the SDK raises an exception group)
        await call(stack.mcp_url(), token, "add_note", recorder, title="ci", text="nope")
    refused = recorder.seen[-1]
    assert refused.status == 403 and 'error="insufficient_scope"' in (refused.challenge or "")


async def test_a_service_signing_its_own_jwts_writes_on_both_its_hosts(stack: Stack) -> None:
    """private_key_jwt with keys by URL: each host's token works there and only there, and the
    key set is fetched once for every assertion."""
    recorder = Recorder()
    for host in (HOST_A, HOST_B):
        token = stack.service_token(host)
        added = await call(
            stack.mcp_url(host), token, "add_note", recorder, title=f"from-{host}", text="x"
        )
        assert added is not None
        other = HOST_B if host == HOST_A else HOST_A
        assert initialize(stack.mcp_url(host), token) == 200
        assert initialize(stack.mcp_url(other), token) == 401
    # Once for every assertion of every host (another test of this module may have been first;
    # a fetch slowed past its timeout on a loaded machine is retried once, 30 s on, at most).
    assert set(stack.keys.fetches) == {"/jwks.json"} and len(stack.keys.fetches) <= 2


def test_the_probe_accepts_a_machine_token(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mcp-gatekeeper probe --token` with the service's token passes its token check."""
    token = stack.service_token(HOST_A)
    main(["probe", "--json", stack.mcp_url(), "--token", token])
    checks = json.loads(capsys.readouterr().out)["checks"]
    outcomes = {check["name"]: check["outcome"] for check in checks}
    assert outcomes["token"] == "pass", checks
