"""Revoked token ids (``jti``), kept exactly until the token would have expired anyway.

Checked in memory on every ``/authenticate``. With a shared store, ``revocation_sync.py`` binds
itself here: what this process revokes is also written to the store, and what other processes
revoked is learnt by polling it.

Never evicted early: dropping an entry would make a revoked token valid again. Memory is bounded
by what may be added instead: only live tokens this service issued are revoked (``/revoke``
checks the signature and ``exp``, administrators revoke what ``oauth/issued.py`` recorded), each
at most once, so the list never holds more than the tokens issued within one access-token
lifetime plus the clock skew.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

from cachetools import TLRUCache

Listener = Callable[[str, float], None]
Publisher = Callable[[], Awaitable[None]]


async def _nothing_to_publish() -> None:
    """With a process-local store the in-memory list is all there is."""


class RevocationList:
    """Checked on every ``/authenticate`` hit, cached or not; a dict lookup."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        clock_skew: float = 0.0,
    ) -> None:
        # Verification accepts a token until exp + clock skew: the entry must live as long.
        def until_dead(_jti: str, expires_at: float, _now: float) -> float:
            return expires_at + clock_skew

        self._revoked: TLRUCache[str, float] = TLRUCache(
            maxsize=math.inf, ttu=until_dead, timer=clock
        )
        self._clock = clock
        self._skew = clock_skew
        self._listener: Listener | None = None
        self._publisher: Publisher = _nothing_to_publish

    def bind(self, listener: Listener, publisher: Publisher) -> None:
        """Told about every local revocation; ``publish`` awaits ``publisher``."""
        self._listener, self._publisher = listener, publisher

    def revoke(self, jti: str, expires_at: float) -> None:
        """Refuse ``jti`` until it expires; a token already dead, or already revoked, adds
        nothing (neither here nor to the store)."""
        if jti in self._revoked or expires_at + self._skew <= self._clock():
            return
        self._revoked[jti] = expires_at
        if self._listener is not None:
            self._listener(jti, expires_at)

    def learn(self, jti: str, expires_at: float) -> None:
        """A revocation another process published."""
        self._revoked[jti] = expires_at

    async def publish(self) -> None:
        """Write this process's revocations to the shared store now (``StoreUnavailable`` if it
        cannot; they stay queued and the background task retries)."""
        await self._publisher()

    def __contains__(self, jti: object) -> bool:
        return jti in self._revoked

    def __len__(self) -> int:
        return len(self._revoked)
