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

import time
from collections.abc import Awaitable, Callable

Listener = Callable[[str, float], None]
Publisher = Callable[[], Awaitable[None]]


async def _nothing_to_publish() -> None:
    """With a process-local store the in-memory list is all there is."""


class RevocationList:
    """Checked on every ``/authenticate`` hit, cached or not: ``jti in ids``, one C lookup.

    In ``ids`` an entry may outlive its token until the next sweep: harmless there, the token is
    refused as expired anyway; ``in`` and ``len`` count live entries only. Dead entries are
    swept when an addition doubles the list since the last sweep, so the work is spread over
    the additions and the list stays within twice the live entries.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        clock_skew: float = 0.0,
    ) -> None:
        #: jti → when the token is dead: its exp plus the skew verification allows.
        self.ids: dict[str, float] = {}
        self._swept_at_size = 0
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
        if jti in self or expires_at + self._skew <= self._clock():
            return
        self._add(jti, expires_at)
        if self._listener is not None:
            self._listener(jti, expires_at)

    def learn(self, jti: str, expires_at: float) -> None:
        """A revocation another process published."""
        self._add(jti, expires_at)

    def _add(self, jti: str, expires_at: float) -> None:
        self.ids[jti] = expires_at + self._skew
        if len(self.ids) >= 2 * max(self._swept_at_size, 64):
            now = self._clock()
            for dead in [key for key, dead_at in self.ids.items() if dead_at <= now]:
                del self.ids[dead]
            self._swept_at_size = len(self.ids)

    async def publish(self) -> None:
        """Write this process's revocations to the shared store now (``StoreUnavailable`` if it
        cannot; they stay queued and the background task retries)."""
        await self._publisher()

    def __contains__(self, jti: object) -> bool:
        dead_at = self.ids.get(jti) if isinstance(jti, str) else None
        return dead_at is not None and dead_at > self._clock()

    def __len__(self) -> int:
        now = self._clock()
        return sum(1 for dead_at in self.ids.values() if dead_at > now)
