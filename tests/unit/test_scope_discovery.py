"""ScopeCatalog against real MCP servers: caching, last known good, time-outs, auth, merging."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from mcp_gatekeeper.scopes.catalog import ScopeCatalog
from tests.mcp_servers import Variant, make_host, serve_mcp, wait_for_request
from tests.support import FakeClock

READ = {"name": "db:read", "description": "Read-only queries", "tools": ["tool_0", "tool_1"]}
WRITE = {"name": "db:write", "description": "Change data", "tools": ["tool_2"]}
LOGGER = "mcp_gatekeeper.scopes.catalog"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def catalogs(
    client: httpx.AsyncClient, clock: FakeClock
) -> AsyncIterator[Callable[..., ScopeCatalog]]:
    made: list[ScopeCatalog] = []

    def make(**options: Any) -> ScopeCatalog:
        options.setdefault("request_timeout", 2.0)
        options.setdefault("overall_timeout", 4.0)
        made.append(ScopeCatalog(client, clock=clock, **options))
        return made[-1]

    yield make
    for catalog in made:
        await catalog.aclose()


async def test_discovered_scopes_are_merged_after_static_ones(
    catalogs: Callable[..., ScopeCatalog],
) -> None:
    """Static scopes come first and win a name clash; new names from the server follow."""
    server_read = {**READ, "description": "Server's own wording", "tools": ["drop_table"]}
    with serve_mcp(Variant(page_meta=({"scopes": [server_read, WRITE]},))) as server:
        host = make_host(server.url, [{"name": "db:read", "description": "Operator wording"}])
        found = await catalogs().scopes(host)
    assert found.discovered and found.available
    assert found.names == ("db:read", "db:write")
    assert found.scopes[0].description == "Operator wording"
    assert found.scopes[0].tools == []
    assert found.scopes[1].tools == ["tool_2"]


async def test_host_without_endpoint_gets_static_scopes(
    catalogs: Callable[..., ScopeCatalog],
) -> None:
    """No endpoint: the static list, available, nothing fetched."""
    host = make_host(None, [READ])
    catalog = catalogs()
    assert catalog.known(host) == await catalog.scopes(host)
    assert catalog.known(host).names == ("db:read",) and catalog.known(host).available
    assert not catalog.known(host).discovered


async def test_fresh_list_is_served_from_cache_until_ttl(
    catalogs: Callable[..., ScopeCatalog], clock: FakeClock
) -> None:
    """Within the TTL no request reaches the server; after it one fetch does."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},))) as server:
        host = make_host(server.url)
        catalog = catalogs(fresh_for=60)
        await catalog.scopes(host)
        seen = len(server.requests)
        clock.advance(59)
        await catalog.scopes(host)
        assert len(server.requests) == seen
        clock.advance(2)
        await catalog.scopes(host)
        assert len(server.requests) == 2 * seen


async def test_a_refetch_of_the_same_list_keeps_the_version(
    catalogs: Callable[..., ScopeCatalog], clock: FakeClock
) -> None:
    """/authenticate rebuilds a host's answers only when the version changes: an unchanged list
    after the TTL must not change it."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},))) as server:
        host = make_host(server.url)
        catalog = catalogs(fresh_for=60)
        await catalog.scopes(host)
        before = catalog.version(host)
        clock.advance(61)
        await catalog.scopes(host)
        assert len(server.requests) > 0 and catalog.version(host) is before


async def test_known_does_no_io_and_says_unavailable_before_first_fetch(
    catalogs: Callable[..., ScopeCatalog],
) -> None:
    """known() is a pure read: unavailable until a fetch has succeeded."""
    with serve_mcp(Variant(page_meta=({"scopes": [WRITE]},))) as server:
        host = make_host(server.url, [READ])
        catalog = catalogs()
        before = catalog.known(host)
        assert server.requests == []
        assert before.names == ("db:read",)
        assert not before.available and not before.discovered
        await catalog.scopes(host)
        assert catalog.known(host).names == ("db:read", "db:write")


@pytest.mark.parametrize(
    "variant",
    [
        Variant(fail="500"),
        Variant(fail="garbage"),
        Variant(page_meta=({"scopes": "db:read db:write"},)),
        Variant(page_meta=({"scopes": [{**READ, "name": "offline_access"}]},)),
    ],
    ids=["http-500", "garbage-json", "scopes-not-a-list", "offline-access"],
)
async def test_failures_leave_static_scopes_and_log_the_reason(
    catalogs: Callable[..., ScopeCatalog], caplog: pytest.LogCaptureFixture, variant: Variant
) -> None:
    """A broken server is a logged failure, never an exception; static scopes remain."""
    with serve_mcp(variant) as server, caplog.at_level(logging.WARNING, logger=LOGGER):
        found = await catalogs().scopes(make_host(server.url, [WRITE]))
    assert found.names == ("db:write",)
    assert not found.available and not found.discovered
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert "db.example.test" in record.getMessage() and "none known yet" in record.getMessage()


async def test_failure_is_logged_once_and_retried_after_a_rest(
    catalogs: Callable[..., ScopeCatalog], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The same reason is logged once; the server is left alone for retry_after."""
    with serve_mcp(Variant(fail="500")) as server, caplog.at_level(logging.INFO, logger=LOGGER):
        host = make_host(server.url)
        catalog = catalogs(retry_after=10)
        await catalog.scopes(host)
        seen = len(server.requests)
        clock.advance(5)
        await catalog.scopes(host)
        assert len(server.requests) == seen
        clock.advance(6)
        await catalog.scopes(host)
        assert len(server.requests) > seen
    assert len([r for r in caplog.records if r.name == LOGGER]) == 1
    assert "HTTP 500" in caplog.records[0].getMessage()


async def test_server_going_down_keeps_last_known_good(
    catalogs: Callable[..., ScopeCatalog], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """After a success, an unreachable server leaves the last list in place, logged as such."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},))) as server:
        host = make_host(server.url)
        catalog = catalogs()
        assert (await catalog.scopes(host)).names == ("db:read",)
        server.stop()
        clock.advance(120)
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            found = await catalog.scopes(host)
    assert found.names == ("db:read",) and found.discovered and found.available
    assert "keeping the last known list" in caplog.records[0].getMessage()


async def test_slow_server_times_out_to_last_known_good(
    catalogs: Callable[..., ScopeCatalog], clock: FakeClock
) -> None:
    """A server that stops answering costs at most the overall time-out."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},))) as server:
        host = make_host(server.url)
        catalog = catalogs(request_timeout=5.0, overall_timeout=0.3)
        await catalog.scopes(host)
        server.holding.set()
        clock.advance(120)
        started = time.monotonic()
        found = await catalog.scopes(host)
        assert time.monotonic() - started < 2.0
    assert found.names == ("db:read",) and found.discovered


async def test_slow_server_without_history_is_unavailable(
    catalogs: Callable[..., ScopeCatalog],
) -> None:
    """The per-request time-out alone also bounds a silent server."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},))) as server:
        server.holding.set()
        started = time.monotonic()
        found = await catalogs(request_timeout=0.2, overall_timeout=5.0).scopes(
            make_host(server.url)
        )
        assert time.monotonic() - started < 2.0
    assert not found.available and found.names == ()


async def test_concurrent_callers_share_one_fetch(catalogs: Callable[..., ScopeCatalog]) -> None:
    """Ten callers at once cause one conversation with the server."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},))) as server:
        host = make_host(server.url)
        catalog = catalogs()
        server.holding.set()
        waiters = [asyncio.create_task(catalog.scopes(host)) for _ in range(10)]
        await wait_for_request(server, "tools/list")
        waiters[0].cancel()  # one impatient caller must not abort the fetch for the others
        server.holding.clear()
        results = await asyncio.gather(*waiters[1:])
        assert waiters[0].cancelled()
    assert {found.names for found in results} == {("db:read",)}
    assert server.rpc_methods() == [
        "POST server/discover",
        "POST tools/list",
        "POST tools/call",
        "POST tools/call",
    ]


async def test_refresh_and_run_fill_the_cache_in_the_background(
    catalogs: Callable[..., ScopeCatalog],
) -> None:
    """refresh() asks every host with an endpoint; run() keeps doing it."""
    with serve_mcp(Variant(page_meta=({"scopes": [READ]},))) as server:
        hosts = [make_host(server.url), make_host(None, [WRITE])]
        catalog = catalogs()
        await catalog.refresh(hosts)
        assert [catalog.known(h).names for h in hosts] == [("db:read",), ("db:write",)]
        seen = len(server.requests)
        loop = asyncio.create_task(catalog.run(hosts, every=0.01))
        for _ in range(500):
            if len(server.requests) >= 3 * seen:
                break
            await asyncio.sleep(0.01)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert len(server.requests) >= 3 * seen


async def test_aclose_cancels_a_fetch_in_flight(catalogs: Callable[..., ScopeCatalog]) -> None:
    """Shutdown does not wait for a slow server."""
    with serve_mcp(Variant()) as server:
        host = make_host(server.url)
        catalog = catalogs(overall_timeout=30.0, request_timeout=30.0)
        server.holding.set()
        waiter = asyncio.create_task(catalog.scopes(host))
        await wait_for_request(server, "tools/list")
        await catalog.aclose()
        assert not (await waiter).available
