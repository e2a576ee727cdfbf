"""The key ring as every process sees it: one sealed record in the store, written only by
compare-and-swap, plus the lock (a record with an expiry) that lets one process generate keys.

The private keys are encrypted at rest (``store.encryptionKey``). A ring sealed with a previous
encryption key is opened and written back sealed with the current one.
"""

from __future__ import annotations

import json
import logging
import secrets

from ..store import Store
from ..store.encryption import Encryption
from .ring import KeyRing

NAMESPACE = "keys"
RING_KEY = "ring"
LOCK_KEY = "generation-lock"
#: Far longer than generating one RSA key (< 0.2 s): a live holder never loses the lock, and a
#: holder killed mid-rotation blocks the others for a minute at most.
LOCK_TTL = 60.0

log = logging.getLogger(__name__)


class SharedRing:
    def __init__(self, store: Store, encryption: Encryption, ttl: float) -> None:
        self._store = store
        self._encryption = encryption
        self._ttl = ttl
        #: Identifies this process's hold on the lock.
        self.owner = secrets.token_hex(8).encode()

    def seal(self, ring: KeyRing) -> bytes:
        return self._encryption.seal(json.dumps(ring.to_dict()).encode())

    def open(self, sealed: bytes) -> KeyRing:
        return KeyRing.from_dict(json.loads(self._encryption.open(sealed)))

    async def read(self) -> bytes | None:
        """The sealed ring as stored, or ``None`` if no process has written one."""
        return await self._store.get(NAMESPACE, RING_KEY)

    async def create(self, sealed: bytes) -> bool:
        """Write the first ring; ``False`` if another process was first."""
        return await self._store.add(NAMESPACE, RING_KEY, sealed, self._ttl)

    async def replace(self, expected: bytes, sealed: bytes) -> bool:
        """Write a newer ring only if the stored one is still ``expected``."""
        return await self._store.replace_if(NAMESPACE, RING_KEY, expected, sealed, self._ttl)

    async def reseal_if_old(self, sealed: bytes, ring: KeyRing) -> bytes:
        """After an encryption-key rotation: store the ring sealed with the current key."""
        if self._encryption.is_current(sealed):
            return sealed
        resealed = self.seal(ring)
        if await self.replace(sealed, resealed):
            log.info("key ring re-encrypted with the current store.encryptionKey")
            return resealed
        return sealed

    async def lock(self) -> bool:
        """Try once to become the process that generates keys."""
        return await self._store.add(NAMESPACE, LOCK_KEY, self.owner, LOCK_TTL)

    async def unlock(self) -> None:
        # Held for well under LOCK_TTL, so the record is still ours.
        await self._store.delete(NAMESPACE, LOCK_KEY)
