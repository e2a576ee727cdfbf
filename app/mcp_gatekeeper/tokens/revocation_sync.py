"""Revocations shared through the store, never read from it on the hot path.

A revocation is enforced at once by the process that made it (in memory), written to the store
under ``revoked/<jti>`` until the token expires, followed by a new random ``revoked-meta/version``.
Every process polls that one small record each ``store.pollInterval`` and reloads the list only
when it changed, so another process enforces a revocation within one poll interval plus one
store round-trip (2 s + 1 s with the defaults). Revocations are only ever added, so a reload is
a union: nothing learnt is dropped, even if the store comes back empty after an outage.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from ..store import Store, StoreUnavailable
from ..store.sync_loop import sync_forever
from .revocation import RevocationList

REVOKED = "revoked"
META = "revoked-meta"
VERSION = "version"
#: Kept past ``exp`` so a verifier whose clock lags still finds the entry.
MARGIN = 300.0
VERSION_TTL = 90 * 86400.0

log = logging.getLogger(__name__)


class RevocationSync:
    def __init__(
        self,
        store: Store,
        revocations: RevocationList,
        *,
        poll_interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._revocations = revocations
        self._poll_interval = poll_interval
        self._clock = clock
        self._queue: list[tuple[str, float]] = []
        self._version: bytes | None = None
        self._loaded = False
        revocations.bind(self._enqueue, self.flush)

    def _enqueue(self, jti: str, expires_at: float) -> None:
        # Unbounded for the same reason as the list itself (bounded by what may be revoked).
        self._queue.append((jti, expires_at))

    async def flush(self) -> None:
        """Write queued revocations, then a new version; on failure they stay queued."""
        if not self._queue:
            return
        pending, self._queue = self._queue, []
        try:
            for jti, expires_at in pending:
                ttl = max(expires_at - self._clock(), 0.0) + MARGIN
                await self._store.put(REVOKED, jti, repr(expires_at).encode(), ttl)
            await self._store.put(META, VERSION, secrets.token_hex(8).encode(), VERSION_TTL)
        except StoreUnavailable:
            # All of them again: writing one twice is harmless, a missing version bump is not.
            self._queue = pending + self._queue
            raise

    async def poll(self) -> None:
        """Reload the shared list if its version changed (version first, then entries)."""
        version = await self._store.get(META, VERSION)
        if self._loaded and version == self._version:
            return
        for jti, raw in await self._store.items(REVOKED):
            try:
                self._revocations.learn(jti, float(raw))
            except ValueError:
                log.warning("ignoring a malformed revocation record %r", jti)
        self._version, self._loaded = version, True

    async def run(self) -> None:
        """Forever: publish what is queued, learn what others revoked; failures are retried."""
        await sync_forever("revocation list", self._sync_once, lambda: self._poll_interval)

    async def _sync_once(self) -> None:
        await self.flush()
        await self.poll()
