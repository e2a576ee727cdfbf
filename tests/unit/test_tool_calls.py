"""Identifying the tools a request calls, and the scopes they need."""

from __future__ import annotations

import json

import pytest

from mcp_gatekeeper.config import ScopeConfig
from mcp_gatekeeper.forward_auth.tool_calls import (
    ToolCalls,
    UnreadableToolCall,
    combine,
    from_body,
    from_headers,
)
from mcp_gatekeeper.forward_auth.tool_policy import ToolScopes


def call(name: str, id_: int = 1) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": name}}


def test_headers_name_the_tool() -> None:
    """2026-07-28: Mcp-Method and Mcp-Name say what a POST does."""
    assert from_headers("tools/call", "query") == ToolCalls(("tools/call",), ("query",))
    assert from_headers("tools/list", None) == ToolCalls(("tools/list",), ())
    assert from_headers(None, None) is None


def test_body_names_every_tool_of_a_batch() -> None:
    """A batch calling two tools names both; responses in a batch call nothing."""
    batch = [call("a"), call("b", 2), {"jsonrpc": "2.0", "id": 9, "result": {}}]
    assert from_body(json.dumps(batch).encode()) == ToolCalls(
        ("tools/call", "tools/call"), ("a", "b")
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"[1]",
        b'{"method": 5}',
        b'{"method": "tools/call", "params": {}}',
        b"\xff",
    ],
    ids=["garbage", "empty-batch", "not-object", "method-not-string", "no-tool-name", "bytes"],
)
def test_unreadable_bodies_are_refused(body: bytes) -> None:
    """A body that cannot be read cannot be allowed."""
    with pytest.raises(UnreadableToolCall):
        from_body(body)


def test_headers_without_method_or_name_are_refused() -> None:
    """Mcp-Name alone, or tools/call without a name, is not a readable request."""
    with pytest.raises(UnreadableToolCall):
        from_headers(None, "query")
    with pytest.raises(UnreadableToolCall):
        from_headers("tools/call", None)


def test_headers_and_body_must_agree() -> None:
    """A client saying tools/list in the headers while calling a tool in the body is refused."""
    body = from_body(json.dumps(call("drop_table")).encode())
    with pytest.raises(UnreadableToolCall):
        combine(from_headers("tools/call", "query"), body)
    with pytest.raises(UnreadableToolCall):
        combine(from_headers("tools/list", None), body)
    assert combine(from_headers("tools/call", "drop_table"), body) == body
    assert combine(None, body) == body


SCOPES = [
    ScopeConfig.model_validate({"name": "db:admin", "tools": ["query", "insert", "drop"]}),
    ScopeConfig.model_validate({"name": "db:read", "tools": ["query"]}),
    ScopeConfig.model_validate({"name": "db:write", "tools": ["query", "insert"]}),
]


@pytest.mark.parametrize(
    ("tools", "granted", "missing"),
    [
        (["query"], ["db:read"], ()),
        (["query"], ["db:admin"], ()),
        (["insert"], ["db:read"], ("db:write",)),
        (["drop"], ["db:read"], ("db:admin",)),
        (["insert", "drop"], [], ("db:write", "db:admin")),
        (["unlisted_tool"], [], ()),
    ],
    ids=["covered", "covered-by-wider", "least-privileged", "only-admin", "two-tools", "unlisted"],
)
def test_missing_scopes_are_the_least_privileged(
    tools: list[str], granted: list[str], missing: tuple[str, ...]
) -> None:
    """Step-up asks for the narrowest scope that allows each refused tool."""
    assert ToolScopes.from_scopes(SCOPES).missing(tools, granted) == missing
