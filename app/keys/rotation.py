"""Keeps the key ring in the store and rotates it on schedule, generating keys off the event loop.

RSA key generation takes 15-120 ms of CPU; done inline it would stall every in-flight
``/authenticate``. ``asyncio.to_thread`` keeps the loop free (OpenSSL releases the GIL).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from ..store import Store
from .ring import KeyRing
from .signing_key import SigningKey, generate_signing_key

NAMESPACE = "keys"
RING_KEY = "ring"

KeyGenerator = Callable[[float], SigningKey]
#: Told about every key generated, with why: "bootstrap" or "rotation".
KeyListener = Callable[[SigningKey, str], None]

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
    ) -> None:
        self._store = store
        self._interval = rotation_interval.total_seconds()
        self._lifetime = token_lifetime.total_seconds()
        self._clock = clock
        self._generate = generate
        self._on_new_key = on_new_key
        self._ring: KeyRing | None = None
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

    async def start(self) -> None:
        """Load the ring from the store, or create one; catch up on missed rotations."""
        async with self._lock:
            stored = await self._store.get(NAMESPACE, RING_KEY)
            if stored is not None:
                self._ring = KeyRing.from_dict(json.loads(stored))
            else:
                current = await self._new_key("bootstrap")
                upcoming = await self._new_key("bootstrap")
                self._ring = KeyRing(next=upcoming, current=current, activated_at=self._clock())
                await self._save()
        while self._clock() >= self.ring.rotation_due_at(self._interval):
            await self.rotate()

    async def rotate(self) -> KeyRing:
        """Promote next to current now; a fresh next key is generated and published."""
        async with self._lock:
            upcoming = await self._new_key("rotation")
            self._ring = self.ring.rotate(self._clock(), upcoming, self._lifetime)
            await self._save()
            return self._ring

    async def _save(self) -> None:
        ttl = 3 * max(self._interval, self._lifetime)
        await self._store.put(NAMESPACE, RING_KEY, json.dumps(self.ring.to_dict()).encode(), ttl)

    async def run(self) -> None:
        """Rotate forever on schedule; a failed rotation is retried, never fatal."""
        while True:
            delay = self.ring.rotation_due_at(self._interval) - self._clock()
            await asyncio.sleep(max(delay, 0.0))
            try:
                await self.rotate()
            except Exception:
                log.exception("key rotation failed; retrying in 30s")
                await asyncio.sleep(30)
