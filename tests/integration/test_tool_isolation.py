"""Tool scopes through every real gateway, with a real Go MCP server that shows what ran.

A token holding only ``rows:read`` tries to make the server run ``write_rows``: as clients that
send no ``Mcp-*`` headers (the TypeScript SDK as shipped, the Python SDK in legacy mode), with
headers that lie under an older revision, and with bodies Go's ``encoding/json`` reads
differently from Python's. The Go server's own log of executed tools is the verdict.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_gatekeeper.config import Config
from tests.e2e.stack import gatekeeper
from tests.e2e.ts_client import call_tool_with_ts_sdk
from tests.go_mcp_server import GoMcpServer, run_go_mcp_server
from tests.integration.harness import GatewayOptions, run_gateway, trusted_host_headers
from tests.integration.harness.ports import LOOPBACK
from tests.support import mint

pytestmark = pytest.mark.gateway

READ, WRITE = "rows:read", "rows:write"
#: name → (gateway, options); the body variants let /authenticate see every call.
VARIANTS: dict[str, tuple[str, GatewayOptions]] = {
    "envoy-body": ("envoy", GatewayOptions(forward_body=True, mcp_headers=True)),
    "envoy": ("envoy", GatewayOptions(mcp_headers=True)),
    "traefik-body": ("traefik", GatewayOptions(forward_body=True)),
    "traefik": ("traefik", GatewayOptions()),
    "caddy": ("caddy", GatewayOptions()),
    "ingress-nginx": ("ingress-nginx", GatewayOptions()),
}
SEES_BODY = {"envoy-body", "traefik-body"}
#: Bodies Python reads as a call to read_rows (or to nothing) and Go as a call to write_rows.
DIFFERENTIAL = {
    "case-folded-name": b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
    b'"params":{"name":"read_rows","NAME":"write_rows"}}',
    "case-folded-method": b'{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call",'
    b'"params":{"name":"write_rows"}}',
    "long-s-params": b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
    b'"params":{"name":"read_rows"},"param\\u017f":{"name":"write_rows"}}',
    "duplicate-name": b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
    b'"params":{"name":"write_rows","name":"read_rows"}}',
}


@dataclass
class Stack:
    name: str
    url: str
    go: GoMcpServer
    app_token: dict[tuple[str, ...], str]

    def token(self, *scopes: str) -> str:
        return self.app_token[scopes]


@pytest.fixture(scope="module")
def go() -> Iterator[GoMcpServer]:
    with run_go_mcp_server() as server:
        yield server


@pytest.fixture(scope="module", params=list(VARIANTS))
def stack(
    request: pytest.FixtureRequest, go: GoMcpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name: str = request.param
    gateway, options = VARIANTS[name]
    workdir: Path = tmp_path_factory.mktemp(f"tools-{name}")
    go_port = int(go.url.rsplit(":", 1)[1].split("/")[0])
    with ExitStack() as running:
        sock = running.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind((LOOPBACK, 0))
        gw = running.enter_context(
            run_gateway(
                gateway,
                auth_port=sock.getsockname()[1],
                upstream_port=go_port,
                hosts=[LOOPBACK],
                workdir=workdir,
                options=options,
            )
        )
        host = f"{LOOPBACK}:{gw.port}"
        config = Config.model_validate(
            {
                "proxy": {
                    "hosts": [{"host": host, "endpoint": go.url}],
                    "trustedHostHeaders": trusted_host_headers(gateway, options),
                },
                "server": {"host": LOOPBACK},
            }
        )
        app = running.enter_context(gatekeeper(config, sock))
        scope_sets: tuple[tuple[str, ...], ...] = ((READ,), (READ, WRITE))
        tokens = {scopes: mint(app, host, scopes=scopes, now=time.time()) for scopes in scope_sets}
        yield Stack(name, f"http://{host}/mcp", go, tokens)


@pytest.fixture
def ran(stack: Stack) -> Iterator[list[str]]:
    """What the Go server executed during the test."""
    stack.go.reset()
    executed: list[str] = []
    yield executed
    executed.extend(stack.go.calls())


def post(stack: Stack, body: bytes, token: str, **headers: str) -> httpx.Response:
    sent = {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        **headers,
    }
    return httpx.post(stack.url, content=body, headers=sent, trust_env=False, timeout=10)


async def test_the_typescript_sdk_cannot_write_with_a_read_token(stack: Stack) -> None:
    """The TS SDK sends no Mcp-* headers: its write is refused through every gateway (at the
    call where the gateway shows it, at the first POST where it does not)."""
    stack.go.reset()
    write = await call_tool_with_ts_sdk(stack.url, stack.token(READ), "write_rows", {"row": 1})
    read = await call_tool_with_ts_sdk(stack.url, stack.token(READ), "read_rows")
    assert not write.ok and write.status == 403, write
    if stack.name in SEES_BODY:
        assert write.stage == "call" and read.ok, read
    else:
        assert write.stage == "connect" and not read.ok and read.status == 403
    assert "write_rows" not in stack.go.calls()
    full = await call_tool_with_ts_sdk(stack.url, stack.token(READ, WRITE), "write_rows")
    assert full.ok and "write_rows" in stack.go.calls(), full


async def test_the_python_sdk_in_legacy_mode_cannot_write_with_a_read_token(stack: Stack) -> None:
    """The Python SDK on the 2025-11-25 wire sends no Mcp-Method/Mcp-Name either."""
    stack.go.reset()
    headers = {"Authorization": f"Bearer {stack.token(READ)}"}
    # The SDK shows a JSON-RPC error's message: the refusal says what to do. (Behind nginx the
    # body is nginx's own page, so there the SDK can only say "Server returned an error".)
    expected = "Server returned an error" if stack.name == "ingress-nginx" else "sign in again"
    with pytest.raises(BaseException) as refused:
        async with (
            httpx2.AsyncClient(headers=headers, trust_env=False, timeout=15) as http,
            Client(streamable_http_client(stack.url, http_client=http), mode="legacy") as client,
        ):
            await client.call_tool("write_rows", {"row": 1})
    assert expected in _messages(refused.value), refused.value
    assert "write_rows" not in stack.go.calls()


@pytest.mark.parametrize("case", list(DIFFERENTIAL))
def test_json_that_go_reads_differently_never_runs_the_write(
    stack: Stack, ran: list[str], case: str
) -> None:
    response = post(stack, DIFFERENTIAL[case], stack.token(READ))
    assert response.status_code == 403, response.text
    assert "write_rows" not in stack.go.calls()


def test_headers_that_lie_under_an_older_revision_are_not_believed(stack: Stack) -> None:
    """Mcp-Name says read_rows, the body calls write_rows, on 2025-11-25: servers of that
    revision never compare the two, so the headers identify nothing."""
    stack.go.reset()
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "write_rows"}}
    ).encode()
    lying = {
        "mcp-protocol-version": "2025-11-25",
        "mcp-method": "tools/call",
        "mcp-name": "read_rows",
    }
    response = post(stack, body, stack.token(READ), **lying)
    assert response.status_code == 403, response.text
    assert stack.go.calls() == []


def _messages(error: BaseException) -> str:
    """Every message inside an exception group, nested groups included."""
    if isinstance(error, BaseExceptionGroup):
        return " | ".join(_messages(inner) for inner in error.exceptions)
    return str(error)
