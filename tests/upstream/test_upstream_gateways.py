"""``proxy.hosts[].upstream`` through real gateways: each user's own credential reaches the API.

A real gateway (ingress-nginx, Envoy, Traefik, Caddy) sits in front of a real MCP server (the
SDK's ``MCPServer``) whose tool calls a real API (``whoami_api``: it accepts only the real npm
OpenID provider's tokens and names their owner) with the ``Authorization`` header the gateway
gave it. Two users sign in with the real ``mcp`` SDK client and call that tool: each is who the
API sees. The client's own token never reaches the MCP server, and the credential never reaches
the client, mcp-gatekeeper's log or its metrics.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_gatekeeper.config import Config
from tests.e2e.mcp_client import HeadlessBrowser, Recorder, mcp_session
from tests.e2e.stack import gatekeeper
from tests.integration.harness import GatewayOptions, run_gateway, trusted_host_headers
from tests.integration.harness.ports import LOOPBACK
from tests.integration.service import serving
from tests.providers.oidc_server import CLIENT_ID, CLIENT_SECRET, OidcServer, run_oidc_server

from .whoami_api import run_whoami_api

pytestmark = pytest.mark.gateway

#: (gateway, the upstream header): Authorization overwrites the client's token; a separate
#: header needs the gateway to drop it (one gateway suffices to show the other wiring works).
CASES = [
    ("ingress-nginx", "Authorization"),
    ("envoy", "Authorization"),
    ("traefik", "Authorization"),
    ("caddy", "Authorization"),
    ("ingress-nginx", "X-Upstream-Token"),
    ("envoy", "X-Upstream-Token"),
    ("traefik", "X-Upstream-Token"),
    ("caddy", "X-Upstream-Token"),
]
TOOL = "whoami_upstream"


@dataclass
class WhoamiServer:
    """The MCP server, and every request's headers it received (lower-case names)."""

    url: str
    #: The upstream API's URL: known only once the identity provider runs, after the gateway.
    api: str = ""
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])


def _build(running: WhoamiServer, header: str) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("whoami", version="1.0", log_level="WARNING")

    @server.tool(name=TOOL)
    async def whoami_upstream(ctx: Context) -> dict[str, Any]:
        """Calls the upstream API with the credential the gateway handed over."""
        credential = (ctx.headers or {}).get(header.lower(), "")
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            answer = await http.get(f"{running.api}/whoami", headers={"authorization": credential})
        return {"status": answer.status_code, **answer.json()}

    return server


def _recording(app: ASGIApp, seen: list[dict[str, str]]) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        await app(scope, receive, send)

    return wrapped


@contextmanager
def whoami_mcp_server(header: str) -> Iterator[WhoamiServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    sock.listen(64)
    running = WhoamiServer(f"http://{LOOPBACK}:{sock.getsockname()[1]}/mcp")
    app = _build(running, header).streamable_http_app(json_response=True, host=LOOPBACK)
    config = uvicorn.Config(
        _recording(app, running.headers), log_level="warning", access_log=False, lifespan="on"
    )
    with sock, serving(config, what="the whoami MCP server", sockets=[sock]):
        yield running


class _Lines(logging.Handler):
    """Every log record of mcp-gatekeeper: its message and every structured field."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__!r}")


@contextmanager
def captured_logs() -> Iterator[_Lines]:
    logger = logging.getLogger("mcp_gatekeeper")
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@dataclass
class Stack:
    origin: str
    auth: str
    header: str
    idp: OidcServer
    app: FastAPI
    mcp: WhoamiServer
    logs: _Lines


@pytest.fixture(scope="module", params=CASES, ids=[f"{g}-{h}" for g, h in CASES])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name, header = request.param
    workdir: Path = tmp_path_factory.mktemp(f"upstream-{name}")
    with ExitStack() as running:
        # Bound, not listening: the gateway needs the port, the service needs the IdP's issuer.
        sock = running.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind((LOOPBACK, 0))
        mcp = running.enter_context(whoami_mcp_server(header))
        gateway = running.enter_context(
            run_gateway(
                name,
                auth_port=sock.getsockname()[1],
                upstream_port=mcp.port,
                hosts=[LOOPBACK],
                workdir=workdir,
                options=GatewayOptions(mcp_headers=True, upstream_header=header),
            )
        )
        host = f"{LOOPBACK}:{gateway.port}"
        env = {"UPSTREAM_EXCHANGE": "1", "REDIRECT_URIS": f"http://{host}/callback"}
        idp = running.enter_context(run_oidc_server(workdir, extra_env=env))
        mcp.api = running.enter_context(run_whoami_api(idp.issuer))
        logs = running.enter_context(captured_logs())
        app = running.enter_context(gatekeeper(_config(host, name, idp.issuer, header), sock))
        auth = f"http://{LOOPBACK}:{sock.getsockname()[1]}"
        yield Stack(f"http://{host}", auth, header, idp, app, mcp, logs)


def _config(host: str, gateway: str, issuer: str, header: str) -> Config:
    return Config.model_validate(
        {
            "provider": {
                "name": "oidc",
                "issuerURL": issuer,
                "clientID": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
            },
            "proxy": {
                "hosts": [
                    {
                        "host": host,
                        "scopes": [{"name": "whoami", "tools": [TOOL]}],
                        "upstream": {"source": "login", "name": "Whoami API", "header": header},
                    }
                ],
                "trustedHostHeaders": trusted_host_headers(gateway),
            },
            "server": {"host": LOOPBACK},
        }
    )


class HeadersSeen(Recorder):
    """The request log, and every header of every answer the client got."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[str] = []

    async def on_response(self, response: httpx2.Response) -> None:
        await super().on_response(response)
        self.answers.append(repr(list(response.headers.multi_items())))


@dataclass
class Call:
    result: dict[str, Any]
    #: What the client got: the tool result and every answer's headers.
    seen_by_client: str
    client_token: str
    #: The headers the MCP server received during this session.
    mcp_headers: list[dict[str, str]]


async def _call_as(stack: Stack, user: str) -> Call:
    recorder = HeadersSeen()
    browser = HeadlessBrowser(recorder, stack.idp.issuer + "/auth", user)
    first = len(stack.mcp.headers)
    try:
        async with mcp_session(f"{stack.origin}/mcp", browser) as session:
            result = await session.client.call_tool(TOOL, {})
            assert session.storage.tokens is not None
            token = session.storage.tokens.access_token
    finally:
        await browser.aclose()
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    seen = repr(result) + "".join(recorder.answers)
    return Call(result.structured_content, seen, token, stack.mcp.headers[first:])


async def test_two_users_reach_the_api_as_themselves(stack: Stack) -> None:
    ann = await _call_as(stack, "gw-ann")
    bob = await _call_as(stack, "gw-bob")
    assert ann.result["status"] == 200 and ann.result["sub"] == "gw-ann"
    assert bob.result["status"] == 200 and bob.result["sub"] == "gw-bob"
    header = stack.header.lower()
    for call in (ann, bob):
        credentials = {headers[header] for headers in call.mcp_headers}
        assert len(credentials) == 1
        (credential,) = credentials
        token = credential.removeprefix("Bearer ")
        # The client's token stops at the gateway: not in any header the MCP server got.
        for headers in call.mcp_headers:
            assert all(call.client_token not in value for value in headers.values())
            if header != "authorization":
                assert "authorization" not in headers
        # The credential reaches neither the client, nor the log, nor the metrics.
        assert token not in call.seen_by_client
        assert not [line for line in stack.logs.lines if token in line]
        metrics = httpx.get(f"{stack.auth}/metrics", trust_env=False).text
        assert token not in metrics
    assert ann.mcp_headers[-1][header] != bob.mcp_headers[-1][header]
