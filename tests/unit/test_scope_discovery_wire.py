"""Scope discovery on the wire: both MCP eras, SSE, every page, auth, and the ``_meta`` shape."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from mcp_gatekeeper import __version__
from mcp_gatekeeper.config import Config
from mcp_gatekeeper.hosts import HostRegistry, McpHost
from mcp_gatekeeper.keys.rotation import KeyManager
from mcp_gatekeeper.scopes.catalog import ScopeCatalog, service_token
from mcp_gatekeeper.scopes.meta_format import MAX_DESCRIPTION, ScopeShapeError, parse_scope_pages
from mcp_gatekeeper.scopes.sse import TooLarge, sse_messages
from mcp_gatekeeper.store.memory import MemoryStore
from tests.mcp_servers import Auth, Variant, make_host, serve_mcp
from tests.support import FakeClock, key_pool

READ = {"name": "db:read", "description": "Read-only queries", "tools": ["tool_0", "tool_1"]}
WRITE = {"name": "db:write", "description": "Change data", "tools": ["tool_2"]}
CLIENT_INFO = {"name": "mcp-gatekeeper", "version": __version__}
MODERN = "2026-07-28"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def catalogs(clock: FakeClock) -> AsyncIterator[Callable[..., ScopeCatalog]]:
    made: list[ScopeCatalog] = []
    async with httpx.AsyncClient() as client:

        def make(**options: Any) -> ScopeCatalog:
            made.append(ScopeCatalog(client, clock=clock, overall_timeout=4.0, **options))
            return made[-1]

        yield make
        for catalog in made:
            await catalog.aclose()


async def test_modern_wire_is_tried_first(catalogs: Callable[..., ScopeCatalog]) -> None:
    """A 2026-07-28 server: server/discover then tools/list, stateless, with routing headers."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},))) as server:
        found = await catalogs().scopes(make_host(server.url))
    assert found.names == ("db:read",)
    assert server.rpc_methods() == [
        "POST server/discover",
        "POST tools/list",
        "POST tools/call",
        "POST tools/call",
    ]
    for request in server.requests[:2]:
        assert request.headers["mcp-protocol-version"] == MODERN
        assert request.headers["mcp-method"] == request.rpc_method
        assert request.headers["accept"] == "application/json, text/event-stream"
        assert "mcp-session-id" not in request.headers and "mcp-name" not in request.headers
        meta = request.body["params"]["_meta"]
        assert meta["io.modelcontextprotocol/protocolVersion"] == MODERN
        assert meta["io.modelcontextprotocol/clientInfo"] == CLIENT_INFO


async def test_discovery_checks_that_the_server_holds_requests_to_their_headers(
    catalogs: Callable[..., ScopeCatalog],
) -> None:
    """A tools/call naming one missing tool in Mcp-Name and another in the body: the SDK server
    answers HEADER_MISMATCH, so its headers bind; a server before 2026-07-28 is never asked."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},))) as modern:
        found = await catalogs().scopes(make_host(modern.url))
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},), modern=False)) as legacy:
        old = await catalogs().scopes(make_host(legacy.url))
    mismatch, control = modern.requests[-2:]
    # Names differing only in case: the server compares exactly; the control call matches.
    assert mismatch.headers["mcp-name"] == mismatch.body["params"]["name"].upper()
    assert control.headers["mcp-name"] == control.body["params"]["name"]
    assert found.headers_bind and not old.headers_bind
    assert "POST tools/call" not in legacy.rpc_methods()


async def test_handshake_wire_when_the_server_predates_2026(
    catalogs: Callable[..., ScopeCatalog],
) -> None:
    """initialize → initialized → tools/list → DELETE, with the session and version headers."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},), modern=False)) as server:
        found = await catalogs().scopes(make_host(server.url))
    assert found.names == ("db:read",)
    assert server.rpc_methods() == [
        "POST server/discover",
        "POST initialize",
        "POST notifications/initialized",
        "POST tools/list",
        "DELETE -",
    ]
    init = server.requests[1]
    assert init.body["params"]["protocolVersion"] == "2025-11-25"
    assert init.body["params"]["clientInfo"] == CLIENT_INFO
    assert "mcp-session-id" not in init.headers and "mcp-protocol-version" not in init.headers
    sessions = {r.headers.get("mcp-session-id") for r in server.requests[2:]}
    assert len(sessions) == 1 and None not in sessions
    assert {r.headers["mcp-protocol-version"] for r in server.requests[2:]} == {"2025-11-25"}


@pytest.mark.parametrize("modern", [True, False], ids=["2026-07-28", "handshake"])
async def test_sse_responses_with_notifications_first(
    catalogs: Callable[..., ScopeCatalog], modern: bool
) -> None:
    """text/event-stream answers, a log notification before each result, over two pages."""
    variant = Variant(
        page_meta=({"scopes": [READ]}, {"scopes": [WRITE]}),
        json_response=False,
        modern=modern,
        notify_first=True,
    )
    with serve_mcp(variant) as server:
        found = await catalogs().scopes(make_host(server.url))
    assert found.names == ("db:read", "db:write")
    assert server.rpc_methods().count("POST tools/list") == 2


@pytest.mark.parametrize("modern", [True, False], ids=["2026-07-28", "handshake"])
async def test_every_page_is_read(catalogs: Callable[..., ScopeCatalog], modern: bool) -> None:
    """Scopes on any page count: nextCursor is followed to the end (the Go proxy read one)."""
    page_meta: list[dict[str, Any] | None] = [
        {"scopes": [READ]},
        None,
        {},
        {"scopes": [WRITE, READ]},
    ]
    with serve_mcp(Variant(page_meta=page_meta, modern=modern)) as server:
        found = await catalogs().scopes(make_host(server.url))
    assert found.names == ("db:read", "db:write")
    lists = [r.body.get("params") or {} for r in server.requests if r.rpc_method == "tools/list"]
    assert [p.get("cursor") for p in lists] == [None, "page-1", "page-2", "page-3"]


async def test_conflicting_definitions_across_pages_fail(
    catalogs: Callable[..., ScopeCatalog],
) -> None:
    """One name with two meanings is refused as a whole rather than guessed at."""
    page_meta = ({"scopes": [READ]}, {"scopes": [{**READ, "tools": ["drop_table"]}]})
    with serve_mcp(Variant(page_meta=page_meta)) as server:
        found = await catalogs().scopes(make_host(server.url))
    assert not found.available


async def test_page_count_is_capped(catalogs: Callable[..., ScopeCatalog]) -> None:
    """A server that never stops paginating is a failure after max_pages."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},) * 4)) as server:
        found = await catalogs(max_pages=3).scopes(make_host(server.url))
    assert not found.available
    assert server.rpc_methods().count("POST tools/list") == 3


@pytest.fixture
async def keys() -> KeyManager:
    manager = KeyManager(
        MemoryStore(clock=time.time),
        rotation_interval=timedelta(hours=1),
        token_lifetime=timedelta(hours=1),
        generate=key_pool(),
    )
    await manager.start()
    return manager


def auth_variant(host: McpHost, keys: KeyManager, **options: Any) -> Variant:
    auth = Auth(jwks=keys.ring.jwks(), resource=host.resource, issuer=host.issuer)
    return Variant(page_meta=({"scopes": [WRITE]},), auth=auth, **options)


@pytest.mark.parametrize("modern", [True, False], ids=["2026-07-28", "handshake"])
async def test_server_requiring_auth_gets_a_service_token(
    catalogs: Callable[..., ScopeCatalog], clock: FakeClock, keys: KeyManager, modern: bool
) -> None:
    """After a 401 the catalog retries with its own 60 s token for exactly that host."""
    host = make_host("http://127.0.0.1:1/mcp", [READ])
    with serve_mcp(auth_variant(host, keys, modern=modern)) as server:
        host = make_host(server.url, [READ])
        catalog: ScopeCatalog = catalogs(
            token_source=lambda h: service_token(
                keys.ring, h, scopes=catalog.known(h).names, now=time.time()
            )
        )
        found = await catalog.scopes(host)
        assert found.names == ("db:read", "db:write") and found.discovered
        assert "authorization" not in server.requests[0].headers
        assert all("authorization" in r.headers for r in server.requests[1:])
        claims = server.accepted_claims[0]
        assert claims["aud"] == host.resource == "https://db.example.test/mcp"
        assert claims["sub"] == claims["client_id"] == "mcp-gatekeeper"
        assert claims["exp"] - claims["iat"] == 60
        assert claims["scopes"] == ["db:read"]
        seen = len(server.requests)
        clock.advance(120)
        await catalog.scopes(host)
        # The token now goes along at once (no second 401), with every scope known.
        assert all("authorization" in r.headers for r in server.requests[seen:])
        assert server.accepted_claims[-1]["scopes"] == ["db:read", "db:write"]


@pytest.mark.parametrize("source", ["none", "wrong-audience"])
async def test_auth_failures_are_failures(
    catalogs: Callable[..., ScopeCatalog],
    keys: KeyManager,
    caplog: pytest.LogCaptureFixture,
    source: str,
) -> None:
    """No token source, or a token for another resource: unavailable, with the reason logged."""
    config = Config.model_validate({"proxy": {"hosts": [{"host": "other.example.test"}]}})
    other = HostRegistry(config).hosts[0]
    with serve_mcp(auth_variant(make_host(None), keys)) as server:
        catalog = catalogs(
            token_source=None
            if source == "none"
            else lambda _: service_token(keys.ring, other, scopes=[], now=time.time())
        )
        found = await catalog.scopes(make_host(server.url))
    assert not found.available
    expected = "no token source" if source == "none" else "even with a service token"
    assert expected in caplog.text
    assert server.accepted_claims == []


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        ({"scopes": {"db:read": {}}}, "is not a list"),
        ({"scopes": ["db:read"]}, "is not an object"),
        ({"scopes": [{"description": "no name"}]}, ".name is not a string"),
        ({"scopes": [{"name": 7}]}, ".name is not a string"),
        ({"scopes": [{"name": "db read"}]}, "printable ASCII"),
        ({"scopes": [{"name": 'db"read'}]}, "printable ASCII"),
        ({"scopes": [{"name": "db:read\n"}]}, "scope-token"),
        ({"scopes": [{"name": "offline_access"}]}, "offline_access"),
        ({"scopes": [{"name": "a", "description": "x" * (MAX_DESCRIPTION + 1)}]}, "description"),
        ({"scopes": [{"name": "a", "description": None}]}, "description"),
        ({"scopes": [{"name": "a", "tools": "query"}]}, ".tools is not a list"),
        ({"scopes": [{"name": "a", "tools": ["query", 3]}]}, "not a tool name"),
        ({"scopes": [{"name": "a", "tools": [""]}]}, "not a tool name"),
        ({"scopes": [{"name": "a"}, {"name": "a", "description": "b"}]}, "defined twice"),
        ({"scopes": [{"name": f"s{i}"} for i in range(201)]}, "more than 200"),
        ("scopes", "_meta is not an object"),
    ],
)
def test_bad_scope_shapes_are_refused(meta: Any, problem: str) -> None:
    """Every part of ``_meta.scopes`` that reaches users or tokens is checked."""
    with pytest.raises(ScopeShapeError, match=problem.replace(".", r"\.")):
        parse_scope_pages([meta])


def test_good_scope_shapes() -> None:
    """Absent or null scopes are none; defaults fill in; unknown members are ignored."""
    pages = [None, {}, {"scopes": None}, {"scopes": [{"name": "a", "title": "ignored"}]}]
    [scope] = parse_scope_pages(pages)
    assert (scope.name, scope.description, scope.tools) == ("a", "", [])


class Chunks(httpx.AsyncByteStream):
    def __init__(self, *chunks: bytes) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


async def messages(*chunks: bytes, limit: int = 1000) -> list[str]:
    response = httpx.Response(200, stream=Chunks(*chunks))
    return [data async for data in sse_messages(response, limit)]


async def test_sse_framing() -> None:
    """CRLF split across chunks, CR-only lines, comments, other event types and priming events."""
    assert await messages(b"data: 1\r", b"\n\r\n", b": ping\r\rdata: 2\rdata: 3\r\r") == [
        "1",
        "2\n3",
    ]
    assert await messages(b"id: 7\ndata:\n\nevent: other\ndata: x\n\ndata:4\n\ndata: 5") == ["4"]


async def test_sse_size_is_capped() -> None:
    """A stream without line ends cannot make the reader buffer without bound."""
    with pytest.raises(TooLarge):
        await messages(b"data: " + b"x" * 600, b"x" * 600, limit=1000)
