"""Each MCP host's scopes: the static ``proxy.hosts[].scopes`` plus what its server advertises.

The server's ``tools/list`` result carries ``_meta.scopes`` (the mcp-oauth2-proxy format,
anchors §1.7): ``[{name, description, tools: [...]}]``. The catalog calls the host's internal
``endpoint`` directly (``mcp_wire``), keeps a short TTL cache and the last known good list, and
never lets a broken or slow server break ``/authorize`` or metadata (anchors §8 item 9).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from ..config.model import ScopeConfig
from ..hosts import McpHost
from ..keys import KeyRing
from ..store import Store, StoreUnavailable
from ..tokens import Identity, mint_access_token
from .mcp_wire import McpWireClient, Unauthorized, Unreachable, WireError
from .meta_format import ScopeShapeError, parse_scope_pages

#: A cached list is used without asking the server again for this long.
FRESH_FOR = 60.0
#: After a failure the server is left alone this long (the last known good value is served).
RETRY_AFTER = 10.0
REQUEST_TIMEOUT = 3.0
#: Bounds the whole conversation (probe, handshake, every page) however slowly it drips; a
#: handshake session cut short still gets its best-effort DELETE (at most 2 s more).
OVERALL_TIMEOUT = 8.0
MAX_PAGES = 50
SERVICE_SUBJECT = "mcp-gatekeeper"
#: The last list learnt from each server, for processes that start while it is down.
STORE_NAMESPACE = "scopes"
STORE_TTL = 400 * 24 * 3600.0
#: Long enough for one discovery, short enough that a leaked token is worth little.
SERVICE_TOKEN_LIFETIME = timedelta(seconds=60)

TokenSource = Callable[[McpHost], str]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScopeSet:
    """A host's scopes: static ones first, then discovered ones with new names."""

    scopes: tuple[ScopeConfig, ...]
    #: The list includes what the server advertised (fresh or last known good).
    discovered: bool
    #: False while a host with an ``endpoint`` has never answered: the list may be incomplete.
    available: bool
    #: The server compares 2026-07-28 ``Mcp-*`` headers with the body (checked at discovery).
    headers_bind: bool = False
    #: The tools its last ``tools/list`` named (``None``: not learnt).
    tools: frozenset[str] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(scope.name for scope in self.scopes)


def service_token(ring: KeyRing, host: McpHost, *, scopes: Sequence[str], now: float) -> str:
    """The short-lived token the service shows an MCP server that wants one to list its tools."""
    return mint_access_token(
        ring,
        host,
        Identity(SERVICE_SUBJECT),
        scopes=list(scopes),
        client_id=SERVICE_SUBJECT,
        now=now,
        lifetime=SERVICE_TOKEN_LIFETIME,
    ).token


class LearntScopes(BaseModel):
    """What the store keeps of a server's answer (``STORE_NAMESPACE``, per host and endpoint)."""

    scopes: tuple[ScopeConfig, ...]
    headers_bind: bool
    #: Every tool name of the listing; absent in records written before it was kept.
    tools: tuple[str, ...] | None = None


@dataclass
class _Entry:
    good: LearntScopes | None = None
    fetched_at: float = 0.0
    failed_at: float | None = None
    reason: str | None = None
    needs_token: bool = False
    inflight: asyncio.Task[None] | None = None


class ScopeCatalog:
    """Learns each host's scopes from its MCP server and serves them without blocking on it."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        store: Store | None = None,
        token_source: TokenSource | None = None,
        clock: Callable[[], float] = time.time,
        fresh_for: float = FRESH_FOR,
        retry_after: float = RETRY_AFTER,
        request_timeout: float = REQUEST_TIMEOUT,
        overall_timeout: float = OVERALL_TIMEOUT,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self._wire = McpWireClient(client, request_timeout=request_timeout, max_pages=max_pages)
        self._store = store
        self._token_source = token_source
        self._clock = clock
        self._fresh_for = fresh_for
        self._retry_after = retry_after
        self._overall_timeout = overall_timeout
        self._entries: dict[tuple[str, str | None], _Entry] = {}

    def known(self, host: McpHost) -> ScopeSet:
        """What is known now, without any I/O (for the hot path and metadata documents)."""
        static = tuple(host.config.scopes)
        if host.config.endpoint is None:
            return ScopeSet(static, discovered=False, available=True)
        entry = self._entries.get(_key(host))
        if entry is None or entry.good is None:
            return ScopeSet(static, discovered=False, available=False)
        # The operator's configuration wins a name clash: a server must not be able to relabel
        # or widen a scope the operator declared (its description is what users consent to).
        names = {scope.name for scope in static}
        extra = tuple(scope for scope in entry.good.scopes if scope.name not in names)
        return ScopeSet(
            static + extra,
            discovered=True,
            available=True,
            headers_bind=entry.good.headers_bind,
            tools=None if entry.good.tools is None else frozenset(entry.good.tools),
        )

    def version(self, host: McpHost) -> object:
        """Changes whenever ``known(host)`` would; cheap enough for every request."""
        entry = self._entries.get(_key(host))
        return None if entry is None else entry.good

    def waiting(self, hosts: Iterable[McpHost]) -> list[str]:
        """Hosts whose scopes were never learnt, here or by any process sharing the store."""
        return [host.host for host in hosts if not self.known(host).available]

    async def load(self, hosts: Iterable[McpHost]) -> None:
        """Adopt the last list the store holds for hosts not yet learnt (at start-up, and while
        a server stays unreachable); never raises."""
        for host in hosts:
            if host.config.endpoint is None or self._store is None:
                continue
            entry = self._entries.setdefault(_key(host), _Entry())
            if entry.good is not None:
                continue
            try:
                raw = await self._store.get(STORE_NAMESPACE, _store_key(host))
                if raw is not None:
                    entry.good = LearntScopes.model_validate_json(raw)
                    log.info("scopes of %s taken from the store until it answers", host.host)
            except (StoreUnavailable, ValidationError) as exc:
                log.warning("the last known scopes of %s cannot be read: %s", host.host, exc)

    async def scopes(self, host: McpHost) -> ScopeSet:
        """The host's scopes, asking its server first when the cached list is not fresh."""
        if host.config.endpoint is None:
            return self.known(host)
        entry = self._entries.setdefault(_key(host), _Entry())
        now = self._clock()
        fresh = entry.good is not None and now - entry.fetched_at < self._fresh_for
        resting = entry.failed_at is not None and now - entry.failed_at < self._retry_after
        if not (fresh or resting):
            await self._join(host, entry)
        return self.known(host)

    async def refresh(self, hosts: Iterable[McpHost]) -> None:
        """Ask every host's server now (e.g. from a background loop); never raises."""
        entries = [
            (host, self._entries.setdefault(_key(host), _Entry()))
            for host in hosts
            if host.config.endpoint is not None
        ]
        await asyncio.gather(*(self._join(host, entry) for host, entry in entries))

    async def run(self, hosts: Sequence[McpHost], every: float = FRESH_FOR / 2) -> None:
        """Refresh forever, so requests find a fresh list and never wait for a server."""
        while True:
            await self.refresh(hosts)
            await asyncio.sleep(every)

    async def aclose(self) -> None:
        """Cancel fetches still running (at shutdown)."""
        tasks = [entry.inflight for entry in self._entries.values() if entry.inflight]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _join(self, host: McpHost, entry: _Entry) -> None:
        """One fetch per host at a time; everyone who asks meanwhile waits for the same one."""
        if entry.inflight is None:
            task = asyncio.create_task(self._fetch(host, entry), name=f"scopes:{host.host}")
            entry.inflight = task

            def done(_: asyncio.Task[None]) -> None:
                entry.inflight = None

            task.add_done_callback(done)
        # wait() neither raises the task's outcome nor cancels it if this caller is cancelled,
        # so one impatient request cannot abort the fetch others are waiting for.
        await asyncio.wait({entry.inflight})

    async def _fetch(self, host: McpHost, entry: _Entry) -> None:
        try:
            async with asyncio.timeout(self._overall_timeout):
                learnt = await self._discover(host, entry)
        except TimeoutError:
            self._failed(host, entry, f"no complete answer within {self._overall_timeout:g}s")
        except (WireError, Unreachable, ScopeShapeError) as exc:
            self._failed(host, entry, str(exc))
        except Exception as exc:  # a token source or server bug must not escape to callers
            log.exception("scope discovery for %s failed unexpectedly", host.host)
            self._failed(host, entry, f"unexpected {type(exc).__name__}")
        else:
            if entry.reason is not None:
                log.info("scope discovery for %s works again", host.host)
            # Kept as the same object while the list is unchanged: version() is compared by
            # identity, and a new object makes /authenticate rebuild the host's answers.
            entry.fetched_at = self._clock()
            entry.failed_at = entry.reason = None
            if learnt != entry.good:
                entry.good = learnt
                await self._save(host, learnt)
            return
        if entry.good is None:
            await self.load([host])

    async def _save(self, host: McpHost, learnt: LearntScopes) -> None:
        if self._store is None:
            return
        try:
            value = learnt.model_dump_json().encode()
            await self._store.put(STORE_NAMESPACE, _store_key(host), value, STORE_TTL)
        except StoreUnavailable as exc:
            log.warning("the scopes of %s were not saved to the store: %s", host.host, exc)

    async def _discover(self, host: McpHost, entry: _Entry) -> LearntScopes:
        url, source = str(host.config.endpoint), self._token_source
        while True:
            # A server that wanted a token last time gets one straight away (no 401 round trip).
            bearer = source(host) if source is not None and entry.needs_token else None
            try:
                listing = await self._wire.list_tools(url, bearer)
            except Unauthorized as exc:
                if source is None:
                    raise Unauthorized(f"{exc} and there is no token source") from None
                if bearer is not None:
                    raise Unauthorized(f"{exc} even with a service token") from None
                entry.needs_token = True  # once more, with a token
                continue
            scopes = parse_scope_pages(_meta_of(page) for page in listing.pages)
            tools = tuple(_tool_names(listing.pages))
            return LearntScopes(scopes=scopes, headers_bind=listing.headers_bind, tools=tools)

    def _failed(self, host: McpHost, entry: _Entry, reason: str) -> None:
        entry.failed_at = self._clock()
        if reason != entry.reason:  # once per distinct reason, not once per attempt
            kept = "keeping the last known list" if entry.good is not None else "none known yet"
            log.warning("scope discovery for %s failed (%s): %s", host.host, kept, reason)
        entry.reason = reason


def _key(host: McpHost) -> tuple[str, str | None]:
    # With the endpoint in the key, a reloaded configuration never serves another URL's list.
    return host.host, host.config.endpoint


def _tool_names(pages: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    for page in pages:
        tools = page.get("tools")
        for tool in tools if isinstance(tools, list) else ():
            name = tool.get("name") if isinstance(tool, dict) else None
            if isinstance(name, str):
                yield name


def _store_key(host: McpHost) -> str:
    return f"{host.host} {host.config.endpoint}"


def _meta_of(page: Mapping[str, Any]) -> Any:
    return page.get("_meta")
