"""Upstream credentials in memory: read without I/O, fetched once per user and host.

A credential is served until ``refresh_before`` ahead of its expiry; after that the request
takes the async path and fetches a new one, so no credential is ever handed out past its
expiry. Concurrent misses for one user and host share one fetch (one future), and a failed
fetch is not cached: the next request tries again.
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


class CredentialUnavailable(Exception):
    """No credential could be had; ``reason`` is safe to log (it never holds a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
            raise
        finally:
            del self._fetching[key]
        future.set_result(credential)
        self._entries[key] = credential
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return credential

    def forget_subject(self, subject: str) -> None:
        """Every credential of one user (their connected grant was revoked)."""
        for key in [key for key in self._entries if key[1] == subject]:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
