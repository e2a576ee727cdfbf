"""Keeps the key ring in the store and rotates it on schedule, generating keys off the event loop.

RSA key generation takes 15-120 ms of CPU; done inline it would stall every in-flight
``/authenticate``. ``asyncio.to_thread`` keeps the loop free (OpenSSL releases the GIL).

Several processes (workers, replicas) share one ring through the store (``shared_ring.py``):
exactly one of them, holding the generation lock, creates the ring or rotates it, with a
compare-and-swap write; every process polls the store and adopts a newer ring without a restart.
A rotation promotes the key that was already published as *next*, so a token signed by the
rotating process verifies at once everywhere: the only key other processes learn late is the
new *next*, and nothing signs with it before the following rotation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from ..store import Store, StoreUnavailable
from ..store.encryption import Encryption
from ..store.sync_loop import sync_forever
from .ring import KeyRing
from .shared_ring import LOCK_TTL, NAMESPACE, RING_KEY, SharedRing
from .signing_key import SigningKey, generate_signing_key

__all__ = ["NAMESPACE", "RING_KEY", "KeyManager", "NotReady"]

KeyGenerator = Callable[[float], SigningKey]
#: Told about every key generated, with why: "bootstrap" or "rotation".
KeyListener = Callable[[SigningKey, str], None]
#: How long an explicit ``rotate()`` waits for another process's rotation to finish.
LOCK_WAIT = LOCK_TTL + 5.0
LOCK_RETRY = 0.05

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """No signing key exists yet."""


class KeyManager:
    def __init__(
        self,
        store: Store,
        *,
        rotation_interval: timedelta,
        token_lifetime: timedelta,
        clock: Callable[[], float] = time.time,
        generate: KeyGenerator = generate_signing_key,
        on_new_key: KeyListener | None = None,
        encryption: Encryption | None = None,
        poll_interval: timedelta = timedelta(seconds=2),
    ) -> None:
        self._interval = rotation_interval.total_seconds()
        self._lifetime = token_lifetime.total_seconds()
        self._clock = clock
        self._generate = generate
        self._on_new_key = on_new_key
        self._poll = poll_interval.total_seconds()
        ttl = 3 * max(self._interval, self._lifetime)
        self._shared = SharedRing(store, encryption or Encryption(None), ttl)
        self._ring: KeyRing | None = None
        self._sealed: bytes | None = None
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self._ring is not None

    @property
    def ring(self) -> KeyRing:
        if self._ring is None:
            raise NotReady("no signing key yet")
        return self._ring

    async def _new_key(self, reason: str) -> SigningKey:
        key = await asyncio.to_thread(self._generate, self._clock())
        if self._on_new_key is not None:
            self._on_new_key(key, reason)
        return key

    def _adopt(self, ring: KeyRing, sealed: bytes) -> None:
        self._ring, self._sealed = ring, sealed

    def _due(self) -> bool:
        return self._clock() >= self.ring.rotation_due_at(self._interval)

    async def start(self) -> None:
        """Load the shared ring, or create it (one process does); catch up on missed rotations."""
        async with self._lock:
            deadline = time.monotonic() + LOCK_WAIT
            while not await self._refresh():
                if await self._shared.lock():
                    try:
                        await self._create()
                    finally:
                        await self._shared.unlock()
                elif time.monotonic() > deadline:
                    raise StoreUnavailable("another process holds the key lock and wrote no ring")
                else:
                    await asyncio.sleep(LOCK_RETRY)
        await self.rotate_if_due()

    async def _create(self) -> None:
        if await self._refresh():  # written by another process while we waited for the lock
            return
        current = await self._new_key("bootstrap")
        upcoming = await self._new_key("bootstrap")
        ring = KeyRing(next=upcoming, current=current, activated_at=self._clock())
        sealed = self._shared.seal(ring)
        if await self._shared.create(sealed):
            self._adopt(ring, sealed)

    async def _refresh(self) -> bool:
        """Adopt the stored ring if it changed; ``True`` once a ring is held."""
        sealed = await self._shared.read()
        if sealed is None:
            if self._ring is not None:
                # The store lost it (e.g. Redis restarted empty): publish the ring we verify
                # with, never a new one, or every token signed so far would stop verifying.
                await self._shared.create(self._shared.seal(self._ring))
            return self._ring is not None
        if sealed != self._sealed:
            ring = self._shared.open(sealed)
            self._adopt(ring, await self._shared.reseal_if_old(sealed, ring))
        return True

    async def refresh(self) -> None:
        """Pick up a ring another process wrote (the background task does this every poll)."""
        async with self._lock:
            await self._refresh()

    async def _rotate_locked(self) -> None:
        upcoming = await self._new_key("rotation")
        ring = self.ring.rotate(self._clock(), upcoming, self._lifetime)
        sealed = self._shared.seal(ring)
        assert self._sealed is not None
        if not await self._shared.replace(self._sealed, sealed):
            raise StoreUnavailable("the key ring changed during a rotation; retrying")
        self._adopt(ring, sealed)

    async def rotate(self) -> KeyRing:
        """Promote next to current now; a fresh next key is generated and published."""
        async with self._lock:
            deadline = time.monotonic() + LOCK_WAIT
            while not await self._shared.lock():
                if time.monotonic() > deadline:
                    raise StoreUnavailable("the key lock stayed taken")
                await asyncio.sleep(LOCK_RETRY)
            try:
                await self._refresh()
                await self._rotate_locked()
            finally:
                await self._shared.unlock()
            return self.ring

    async def rotate_if_due(self) -> None:
        """Rotate if the interval is over, unless another process is already rotating."""
        async with self._lock:
            if not self._due() or not await self._shared.lock():
                return
            try:
                await self._refresh()  # another process may have rotated a moment ago
                if self._due():
                    await self._rotate_locked()
            finally:
                await self._shared.unlock()

    async def run(self) -> None:
        """Forever: adopt rings written elsewhere, rotate on schedule; failures are retried."""
        await sync_forever("key ring", self._sync_once, self._next_sync_in)

    async def _sync_once(self) -> None:
        if self._ring is None:
            await self.start()  # the store was unreachable at start-up
        else:
            await self.refresh()
            await self.rotate_if_due()

    def _next_sync_in(self) -> float:
        if self._ring is None:
            return self._poll
        return min(self._poll, self.ring.rotation_due_at(self._interval) - self._clock())
