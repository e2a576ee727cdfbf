"""The Go MCP server of ``tests/go_mcp``, called directly: the parser differential is real.

Go's ``encoding/json`` matches object keys to struct fields case-insensitively (Unicode simple
folding) and lets the last of several matching keys win; Python's ``json`` keeps exact keys. The
same bytes can therefore be ``read_rows`` to a Python gateway and ``write_rows`` to a Go MCP
server, which is why the gatekeeper must refuse such bodies rather than authorize its own reading.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.go_mcp_server import GoMcpServer, run_go_mcp_server

CALL = '{"jsonrpc":"2.0","id":1,'

# (body, the tool Python's json reads in it); Go executes write_rows for each.
DIFFERENTIALS = {
    "upper-case key": (
        CALL + '"method":"tools/call","params":{"name":"read_rows","NAME":"write_rows"}}',
        "read_rows",
    ),
    # The escape stays in the JSON text: U+017F (long s) folds to "s" for Go.
    "long-s params": (
        CALL + r'"method":"tools/call","params":{"name":"read_rows"},'
        r'"param\u017f":{"name":"write_rows"}}',
        "read_rows",
    ),
    # Python keeps the last duplicate too; parsers that keep the first read read_rows.
    "duplicate key": (
        CALL + '"method":"tools/call","params":{"name":"read_rows","name":"write_rows"}}',
        "write_rows",
    ),
    "method behind ping": (
        CALL + '"method":"ping","Method":"tools/call","params":{"name":"write_rows"}}',
        None,
    ),
}


@pytest.fixture(scope="module")
def server() -> Iterator[GoMcpServer]:
    with run_go_mcp_server() as running:
        yield running


@pytest.fixture
def go_mcp(server: GoMcpServer) -> GoMcpServer:
    server.reset()
    return server


def post(server: GoMcpServer, body: str | list[Any] | dict[str, Any]) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    return httpx.post(server.url, content=content, headers=headers, timeout=5.0, trust_env=False)


def python_reads(body: str) -> str | None:
    message = json.loads(body)
    if message["method"] != "tools/call":
        return None
    name: str = message["params"]["name"]
    return name


@pytest.mark.parametrize("case", DIFFERENTIALS.values(), ids=DIFFERENTIALS.keys())
def test_go_executes_a_tool_python_does_not_read(
    go_mcp: GoMcpServer, case: tuple[str, str | None]
) -> None:
    body, python_tool = case
    assert python_reads(body) == python_tool

    response = post(go_mcp, body)

    assert response.status_code == 200
    result = response.json()["result"]
    assert result["content"] == [{"type": "text", "text": "executed write_rows"}]
    assert go_mcp.calls() == ["write_rows"]


def test_exact_keys_run_the_named_tool(go_mcp: GoMcpServer) -> None:
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "read_rows"}}

    assert post(go_mcp, call).json()["result"]["isError"] is False
    unknown = post(go_mcp, {**call, "params": {"name": "drop_table"}}).json()

    assert unknown["error"]["code"] == -32602
    assert go_mcp.calls() == ["read_rows"]


def test_tools_list_advertises_scopes(go_mcp: GoMcpServer) -> None:
    result = post(go_mcp, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).json()["result"]

    assert [tool["name"] for tool in result["tools"]] == ["read_rows", "write_rows"]
    assert result["_meta"] == {
        "scopes": [
            {"name": "rows:read", "description": "Read rows", "tools": ["read_rows"]},
            {"name": "rows:write", "description": "Write rows", "tools": ["write_rows"]},
        ]
    }


def test_handshake_and_transport(go_mcp: GoMcpServer) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {}},
    }
    initialized = post(go_mcp, init)
    assert initialized.headers["content-type"] == "application/json"
    assert initialized.headers["mcp-session-id"]
    assert initialized.json()["result"]["protocolVersion"] == "2025-06-18"
    assert initialized.json()["result"]["capabilities"] == {"tools": {}}
    unknown_version = {**init, "params": {"protocolVersion": "1999-01-01"}}
    assert post(go_mcp, unknown_version).json()["result"]["protocolVersion"] == "2025-11-25"

    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert post(go_mcp, notification).status_code == 202
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        notification,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "write_rows"}},
    ]
    answers = post(go_mcp, batch).json()
    assert [(answer["id"], "result" in answer) for answer in answers] == [(1, True), (2, True)]
    assert go_mcp.calls() == ["write_rows"]

    assert httpx.get(go_mcp.url, trust_env=False).status_code == 405
    assert httpx.delete(go_mcp.url, trust_env=False).status_code == 200
