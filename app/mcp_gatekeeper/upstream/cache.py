"""Upstream credentials in memory: read without I/O, fetched once per user and host.

A credential is served until ``refresh_before`` ahead of its expiry; after that the request
takes the async path and fetches a new one, so no credential is ever handed out past its
expiry. Concurrent misses for one user and host share one fetch (one future). A failed fetch
is remembered for that user and host for ``FIRST_BACKOFF`` seconds, doubling with each failure
in a row up to ``MAX_BACKOFF``: meanwhile their requests are refused at once, so one user whose
upstream keeps failing cannot get the shared OAuth client rate-limited at the API.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

#: (host, subject): one user's credential for one MCP host.
Key = tuple[str, str]
#: Users' credentials kept per replica; the least recently fetched go first.
MAX_ENTRIES = 50_000
#: Seconds a failed fetch is not tried again, doubled per failure in a row up to the maximum.
FIRST_BACKOFF = 5.0
MAX_BACKOFF = 60.0


class CredentialUnavailable(Exception):
    """No credential could be had; ``reason`` is safe to log (it never holds a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Failure:
    """The last fetch failed: refused with ``reason`` until ``until``."""

    reason: str
    until: float
    backoff: float


@dataclass(frozen=True, slots=True)
class Credential:
    """The header value for the gateway, and when the upstream said it expires."""

    value: bytes = field(repr=False)
    expires_at: float
    #: Served until then (``expires_at`` less the host's ``refreshBefore``).
    fresh_until: float


class CredentialCache:
    def __init__(self, clock: Callable[[], float], max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[Key, Credential] = OrderedDict()
        self._fetching: dict[Key, asyncio.Future[Credential]] = {}
        self._failures: OrderedDict[Key, Failure] = OrderedDict()
        #: Called with each key whose credential is dropped (answers built from it go too).
        self.on_forget: Callable[[Key], None] = lambda _key: None

    def fresh(self, key: Key) -> Credential | None:
        """The credential, if it may still be served: a dict lookup and a clock read."""
        credential = self._entries.get(key)
        if credential is None or self._clock() >= credential.fresh_until:
            return None
        return credential

    async def fetch(self, key: Key, make: Callable[[], Awaitable[Credential]]) -> Credential:
        """A fresh credential for ``key``: cached, or made once however many ask at once."""
        credential = self.fresh(key)
        if credential is not None:
            return credential
        failure = self._failures.get(key)
        if failure is not None and self._clock() < failure.until:
            raise CredentialUnavailable(f"{failure.reason} (not tried again for a few seconds)")
        pending = self._fetching.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Credential] = asyncio.get_running_loop().create_future()
        self._fetching[key] = future
        try:
            credential = await make()
        except (Exception, asyncio.CancelledError) as exc:
            # Those waiting on this fetch are refused too (a cancelled fetch is a failed one).
            failed = exc if isinstance(exc, Exception) else CredentialUnavailable("cancelled")
            future.set_exception(failed)
            future.exception()  # retrieved: nobody else waiting is no "never retrieved" warning
            if isinstance(exc, Exception):
                # Not a cancelled one: the upstream was never asked to the end.
                self._failed(key, exc, failure)
            raise
        finally:
            del self._fetching[key]
        future.set_result(credential)
        self._failures.pop(key, None)
        self._entries[key] = credential
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._drop(next(iter(self._entries)))
        return credential

    def _failed(self, key: Key, exc: Exception, previous: Failure | None) -> None:
        # A stale credential is of no more use: its bytes go now, not at eviction.
        self._drop(key)
        now = self._clock()
        # Failures in a row double the wait; one long after the last starts again.
        backoff = FIRST_BACKOFF
        if previous is not None and now < previous.until + MAX_BACKOFF:
            backoff = min(previous.backoff * 2, MAX_BACKOFF)
        reason = exc.reason if isinstance(exc, CredentialUnavailable) else type(exc).__name__
        self._failures[key] = Failure(reason, now + backoff, backoff)
        self._failures.move_to_end(key)
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)

    def _drop(self, key: Key) -> None:
        if self._entries.pop(key, None) is not None:
            self.on_forget(key)

    def forget_subject(self, subject: str) -> None:
        """Every credential of one user, and their failures (their connected grant was revoked,
        or they connected again: the next request tries at once)."""
        for key in [key for key in self._entries if key[1] == subject]:
            self._drop(key)
        for key in [key for key in self._failures if key[1] == subject]:
            del self._failures[key]

    def __len__(self) -> int:
        return len(self._entries)
