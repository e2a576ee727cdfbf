"""Per-tool authorization at /authenticate: what identifies a tool, step-up, and the fallbacks.

The host's MCP server is real (the SDK's ``MCPServer``): whether ``Mcp-*`` headers count
depends on what discovery saw it do with them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.forward_auth.tool_calls import MAX_BODY_BYTES
from tests.mcp_servers import RunningServer, Variant, serve_mcp
from tests.support import config_dict, mint, running

A = "a.example.test"
SCOPES = [
    {"name": "db:read", "description": "Read", "tools": ["query", "list_tables"]},
    {"name": "db:write", "description": "Write", "tools": ["query", "insert"]},
]
MODERN = "2026-07-28"
#: What the test servers list (ping_tool is in no scope).
TOOLS = ("query", "list_tables", "insert", "ping_tool")


def config(endpoint: str, **host: Any) -> Config:
    raw = config_dict(hosts=[{"host": A, "scopes": SCOPES, "endpoint": endpoint, **host}])
    return Config.model_validate(raw)


def named(tool: str, version: str = MODERN) -> dict[str, str]:
    """The 2026-07-28 routing headers of a tools/call."""
    return {"mcp-protocol-version": version, "mcp-method": "tools/call", "mcp-name": tool}


async def scopes_learnt(client: httpx.AsyncClient) -> None:
    for _ in range(200):
        if (await client.get("/readyz")).json().get("scopesWaiting") == []:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the MCP server's scopes were never learnt")


class Gate:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app, self.client = app, client

    async def ask(
        self,
        scopes: tuple[str, ...],
        method: str = "POST",
        body: Any = None,
        **headers: str,
    ) -> httpx.Response:
        token = mint(self.app, A, scopes=scopes)
        sent = {"host": A, "authorization": f"Bearer {token}", **headers}
        content = json.dumps(body).encode() if body is not None else None
        return await self.client.request(method, "/authenticate/mcp", headers=sent, content=content)


@pytest.fixture(scope="module")
def modern_server() -> Iterator[RunningServer]:
    with serve_mcp(Variant(page_meta=({"scopes": SCOPES},), tools=TOOLS)) as server:
        yield server


@pytest.fixture(scope="module")
def legacy_server() -> Iterator[RunningServer]:
    with serve_mcp(Variant(page_meta=({"scopes": SCOPES},), modern=False, tools=TOOLS)) as server:
        yield server


async def gate_for(server_url: str, **host: Any) -> AsyncIterator[Gate]:
    async with running(config(server_url, **host)) as (app, client):
        await scopes_learnt(client)
        yield Gate(app, client)


@pytest.fixture
async def gate(modern_server: RunningServer) -> AsyncIterator[Gate]:
    async for found in gate_for(modern_server.url):
        yield found


def tool_call(name: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name}}


async def test_tool_covered_by_a_granted_scope_passes(gate: Gate) -> None:
    """A read token may call the read tool named in the 2026-07-28 headers: the server was seen
    refusing headers that differ from the body, so they bind what it runs."""
    response = await gate.ask(("db:read",), **named("query"))
    assert response.status_code == 200


async def test_missing_scope_gets_a_step_up_challenge(gate: Gate) -> None:
    """403 insufficient_scope naming the granted scopes plus the least privileged missing one."""
    response = await gate.ask(("db:read",), **named("insert"))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", '
        'resource_metadata="https://a.example.test/.well-known/oauth-protected-resource/mcp", '
        'scope="db:read db:write"'
    )
    assert response.headers["access-control-expose-headers"] == "WWW-Authenticate"
    assert response.json()["error"] == "insufficient_scope"


async def test_a_base64_wrapped_name_is_read_as_the_server_reads_it(gate: Gate) -> None:
    """``=?base64?aW5zZXJ0?=`` is ``insert`` to the MCP SDK server, so it is ``insert`` here;
    a malformed wrapping (non-canonical base64) is refused as the server refuses it."""
    wrapped = await gate.ask(("db:read",), **named("=?base64?aW5zZXJ0?="))
    malformed = await gate.ask(("db:read", "db:write"), **named("=?base64?aW5zZXJ0=?="))
    assert (
        wrapped.status_code == 403
        and 'scope="db:read db:write"' in (wrapped.headers["www-authenticate"])
    )
    assert malformed.status_code == 403 and "base64" in malformed.json()["error_description"]


@pytest.mark.parametrize(
    "headers",
    [
        named("insert,query"),
        named("query,insert"),
        {**named("query"), "mcp-method": "Tools/Call"},
        {**named("query"), "mcp-method": "tools/list,tools/call"},
    ],
    ids=["name-list", "name-list-reversed", "method-case", "method-list"],
)
async def test_header_lists_and_near_misses_are_refused(
    gate: Gate, headers: dict[str, str]
) -> None:
    """Envoy joins repeated headers with ","; a server reading one copy could run the other."""
    response = await gate.ask(("db:read",), **headers)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"


async def test_a_header_naming_a_tool_the_server_did_not_list_identifies_nothing(
    gate: Gate,
) -> None:
    """ "INSERT" is no listed tool: a server matching names loosely might run insert, so the
    request counts as unidentified (a read token is refused, a token for every tool passes)."""
    loose = await gate.ask(("db:read",), **named("INSERT"))
    everything = await gate.ask(("db:read", "db:write"), **named("INSERT"))
    assert loose.status_code == 403 and "cannot be checked" in loose.json()["error_description"]
    assert everything.status_code == 200


async def test_headers_of_an_older_revision_do_not_identify_the_tool(gate: Gate) -> None:
    """Servers on 2025-11-25 never compare Mcp-Name with the body: a read token that names a
    read tool there is refused, told to ask for every scope; a token allowing all passes."""
    lying = await gate.ask(("db:read",), **named("query", "2025-11-25"))
    everything = await gate.ask(("db:read", "db:write"), **named("query", "2025-11-25"))
    assert lying.status_code == 403
    assert 'scope="db:read db:write"' in lying.headers["www-authenticate"]
    assert "cannot be checked" in lying.json()["error_description"]
    assert everything.status_code == 200


async def test_headers_never_bind_a_server_that_does_not_compare_them(
    legacy_server: RunningServer,
) -> None:
    """A server that does not speak 2026-07-28 is not held to headers claiming it."""
    async for gate in gate_for(legacy_server.url):
        response = await gate.ask(("db:read",), **named("query"))
        assert response.status_code == 403
        assert 'scope="db:read db:write"' in response.headers["www-authenticate"]


async def test_a_client_that_sends_nothing_extra_needs_a_token_allowing_every_tool(
    gate: Gate,
) -> None:
    """No Mcp-* headers, no forwarded body: a read-only token cannot POST (it could be a write);
    the challenge asks for what covers every tool. GET and DELETE call no tool."""
    hidden = await gate.ask(("db:read",))
    full = await gate.ask(("db:read", "db:write"))
    stream = await gate.ask(("db:read",), method="GET")
    end = await gate.ask(("db:read",), method="DELETE")
    assert hidden.status_code == 403
    assert hidden.headers["www-authenticate"].endswith('scope="db:read db:write"')
    assert full.status_code == 200 and full.headers["x-auth-request-scopes"] == "db:read db:write"
    assert stream.status_code == 200 and end.status_code == 200


async def test_a_method_header_cannot_hide_a_post(gate: Gate) -> None:
    """Caddy asks with GET and names the method in X-Forwarded-Method: a POST counts."""
    response = await gate.ask(("db:read",), method="GET", **{"x-forwarded-method": "POST"})
    assert response.status_code == 403


async def test_forwarded_body_is_checked_including_batches(gate: Gate) -> None:
    """Without headers the JSON-RPC body decides; one refused tool in a batch refuses it all."""
    ok = await gate.ask(("db:read",), body=tool_call("list_tables"))
    batch = await gate.ask(("db:read",), body=[tool_call("query"), tool_call("insert")])
    assert ok.status_code == 200
    assert (
        batch.status_code == 403 and 'scope="db:read db:write"' in batch.headers["www-authenticate"]
    )


async def test_a_refusal_repeats_a_bounded_part_of_what_was_asked(gate: Gate) -> None:
    """A batch naming long unknown tools beside a refused one: the answer names a few, cut
    short, and is small (a refusal must not echo a megabyte back, or keep it)."""
    batch = [tool_call("insert")] + [tool_call(f"{i}-" + "x" * 5000) for i in range(20)]
    response = await gate.ask(
        ("db:read",), body=batch, accept="application/json, text/event-stream"
    )
    assert response.status_code == 403
    assert len(response.content) < 2000
    assert "and 16 more" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","NAME":"insert"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call","params":{"name":"insert"}}',
        b'{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"insert"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query"},'
        b'"param\\u017f":{"name":"insert"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"insert","name":"query"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query\\ud800"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","x":NaN}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query",'
        b'"arguments":{"Table":1,"table":2,"a\\u0000b":3}}}',
        b"[" * 65 + b"]" * 65,
        b"[" * 100_000 + b"]" * 100_000,
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query"}}'.encode("utf-16"),
    ],
    ids=[
        "case-folded-name",
        "case-folded-method",
        "near-miss-member",
        "long-s-params",
        "duplicate-name",
        "lone-surrogate",
        "nan",
        "case-folded-argument-behind-nul",
        "deep",
        "deeper-than-python",
        "utf-16",
    ],
)
async def test_json_that_parsers_read_differently_is_refused(gate: Gate, body: bytes) -> None:
    """Whatever one parser would run, another might run something else: 403, never a 5xx."""
    token = mint(gate.app, A, scopes=("db:read", "db:write"))
    response = await gate.client.post(
        "/authenticate/mcp", headers={"host": A, "authorization": f"Bearer {token}"}, content=body
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"mcp-protocol-version": MODERN, "mcp-method": "tools/list"}, tool_call("insert")),
        (named("query"), tool_call("insert")),
        ({}, "not json"),
        ({"mcp-name": "query"}, None),
    ],
    ids=["method-differs", "name-differs", "garbage-body", "name-without-method"],
)
async def test_disagreeing_or_unreadable_requests_are_refused(
    gate: Gate, headers: dict[str, str], body: Any
) -> None:
    """Headers and body that disagree, or an unreadable body, are refused (403), not guessed."""
    response = await gate.ask(("db:read", "db:write"), body=body, **headers)
    assert response.status_code == 403 and "www-authenticate" not in response.headers


async def test_tools_no_scope_mentions_stay_callable(gate: Gate) -> None:
    """A tool outside every scope is callable by any valid token for the host."""
    response = await gate.ask((), **named("ping_tool"))
    assert response.status_code == 200


async def test_upstream_lets_an_unidentified_post_through_with_the_scopes(
    modern_server: RunningServer,
) -> None:
    """toolPolicy upstream: the MCP server enforces X-Auth-Request-Scopes itself."""
    async for gate in gate_for(modern_server.url, toolPolicy="upstream"):
        hidden = await gate.ask(("db:read",))
        refused = await gate.ask(("db:read",), **named("insert"))
        assert hidden.status_code == 200
        assert hidden.headers["x-auth-request-scopes"] == "db:read"
        assert refused.status_code == 403


async def test_strict_refuses_a_post_that_hides_its_tool(modern_server: RunningServer) -> None:
    """toolPolicy strict: even a token allowing every tool must show what it calls."""
    async for gate in gate_for(modern_server.url, toolPolicy="strict"):
        hidden = await gate.ask(("db:read", "db:write"))
        shown = await gate.ask(("db:read",), **named("query"))
        stream = await gate.ask(("db:read",), method="GET")
        assert hidden.status_code == 403
        assert shown.status_code == 200 and stream.status_code == 200


async def test_challenge_and_metadata_offer_the_base_scopes(modern_server: RunningServer) -> None:
    """baseScopes narrows scope= in 401s and scopes_supported; step-up asks for the rest."""
    async for gate in gate_for(modern_server.url, baseScopes=["db:read"]):
        client = gate.client
        challenge = await client.get("/authenticate", headers={"host": A})
        prm = await client.get("/.well-known/oauth-protected-resource/mcp", headers={"host": A})
        metadata = await client.get("/.well-known/oauth-authorization-server", headers={"host": A})
        assert challenge.headers["www-authenticate"].endswith('scope="db:read"')
        assert prm.json()["scopes_supported"] == ["db:read"]
        assert metadata.json()["scopes_supported"] == ["db:read", "offline_access"]


async def test_a_body_past_the_inspection_limit_is_refused_whatever_its_chunks(gate: Gate) -> None:
    """The chunk that crosses the 1 MiB limit counts: a readable call padded to the limit, with
    more after it, is refused as too large, never judged on the part that fit."""
    readable = json.dumps(tool_call("list_tables")).encode()
    first = readable + b" " * (MAX_BODY_BYTES - 100 - len(readable))

    async def chunks() -> AsyncIterator[bytes]:
        yield first
        yield b" " * 150 + b"trailing bytes that would not parse"

    token = mint(gate.app, A, scopes=("db:read",))
    response = await gate.client.post(
        "/authenticate/mcp",
        headers={"host": A, "authorization": f"Bearer {token}"},
        content=chunks(),
    )
    assert response.status_code == 403
    assert "large" in response.json()["error_description"]
