"""The official MCP TypeScript SDK client (tests/e2e/ts_client.py) against real servers: a tool
result from the Python SDK's ``MCPServer``, and the HTTP status of a refusal, as the SDK reports
them."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from tests.e2e.ts_client import call_tool_with_ts_sdk
from tests.integration.service import serving
from tests.mcp_servers import HANDSHAKE_VERSIONS, Variant, serve_mcp

TOKEN = "token-for-the-ts-client"
REFUSAL = {
    "error": "insufficient_scope",
    "error_description": "The token does not allow tool_1; ask for: read write",
}


@pytest.mark.parametrize("json_response", [True, False], ids=["json", "sse"])
async def test_tool_result_comes_back(json_response: bool) -> None:
    with serve_mcp(Variant(json_response=json_response)) as server:
        called = await call_tool_with_ts_sdk(server.url, TOKEN, "tool_1", {})

    assert called.ok, called
    assert called.result is not None
    assert called.result["content"] == [{"type": "text", "text": "ok"}]
    assert not called.result.get("isError", False)
    call = next(r for r in server.requests if r.rpc_method == "tools/call")
    assert call.body["params"] == {"name": "tool_1", "arguments": {}}
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.headers["mcp-protocol-version"] in HANDSHAKE_VERSIONS


async def test_tool_error_is_a_result() -> None:
    with serve_mcp(Variant()) as server:
        called = await call_tool_with_ts_sdk(server.url, TOKEN, "no_such_tool")

    assert called.ok, called
    assert called.result is not None
    assert called.result["isError"] is True
    assert called.result["content"] == [{"type": "text", "text": "Unknown tool: no_such_tool"}]


Refuse = Literal["tools/call", "everything"] | None


def _minimal(refuse: Refuse) -> Any:
    """A minimal streamable HTTP MCP server (``initialize`` only; a JSON-RPC error for any other
    request) that answers 403 ``insufficient_scope`` (JSON, with the challenge, as mcp-gatekeeper
    does) to ``tools/call`` POSTs, to every POST, or (``None``) to none."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if scope["method"] != "POST":
            await _answer(send, 405)
            return
        request = json.loads(raw)
        if refuse == "everything" or (refuse == "tools/call" and request["method"] == "tools/call"):
            challenge = 'Bearer error="insufficient_scope", scope="read write"'
            await _answer(send, 403, REFUSAL, [(b"www-authenticate", challenge.encode())])
        elif "id" not in request:
            await _answer(send, 202)
        elif request["method"] == "initialize":
            result = {
                "protocolVersion": request["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "minimal", "version": "1.0"},
            }
            await _answer(send, 200, {"jsonrpc": "2.0", "id": request["id"], "result": result})
        else:
            error = {"code": -32601, "message": "Method not found"}
            await _answer(send, 200, {"jsonrpc": "2.0", "id": request["id"], "error": error})

    return app


async def _answer(
    send: Send,
    status: int,
    body: dict[str, Any] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    content = b"" if body is None else json.dumps(body).encode()
    all_headers = [*(headers or []), (b"content-length", str(len(content)).encode())]
    if body is not None:
        all_headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": content})


@contextmanager
def serve_minimal(refuse: Refuse) -> Iterator[str]:
    """Run ``_minimal(refuse)`` on a free loopback port; yields its MCP endpoint URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            _minimal(refuse), log_level="warning", access_log=False, lifespan="off"
        )
        with serving(config, what="the minimal MCP server", start_timeout=10, sockets=[sock]):
            yield f"http://127.0.0.1:{port}/mcp"


@pytest.mark.parametrize(
    ("refuse", "stage"),
    [("tools/call", "call"), ("everything", "connect")],
    ids=["call", "connect"],
)
async def test_403_is_reported_with_its_status(
    refuse: Literal["tools/call", "everything"], stage: str
) -> None:
    with serve_minimal(refuse) as url:
        called = await call_tool_with_ts_sdk(url, TOKEN, "tool_1", {"x": 1})

    assert not called.ok
    assert called.result is None
    assert (called.stage, called.status) == (stage, 403), called
    assert called.message is not None and "insufficient_scope" in called.message


async def test_json_rpc_error_is_a_call_failure_without_status() -> None:
    with serve_minimal(None) as url:
        called = await call_tool_with_ts_sdk(url, TOKEN, "tool_1")

    assert not called.ok
    assert (called.stage, called.status) == ("call", None), called
    assert called.message is not None and "Method not found" in called.message
