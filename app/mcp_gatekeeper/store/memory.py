"""In-process store: bounded per namespace by entry count and by each entry's lifetime.

One event loop, no ``await`` inside an operation: every operation is atomic by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TLRUCache

from .base import check_ttl

DEFAULT_MAX_ENTRIES = 50_000


def _expiry(_key: str, value: tuple[bytes, float], _now: float) -> float:
    return value[1]


class MemoryStore:
    """A ``Store`` for one process. Oldest entries are evicted first once a namespace is full."""

    process_local = True

    def __init__(
        self, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.time
    ) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._namespaces: dict[str, TLRUCache[str, tuple[bytes, float]]] = {}

    def _space(self, namespace: str) -> TLRUCache[str, tuple[bytes, float]]:
        space = self._namespaces.get(namespace)
        if space is None:
            space = TLRUCache(maxsize=self._max_entries, ttu=_expiry, timer=self._clock)
            self._namespaces[namespace] = space
        return space

    async def get(self, namespace: str, key: str) -> bytes | None:
        entry = self._space(namespace).get(key)
        return entry[0] if entry else None

    async def put(self, namespace: str, key: str, value: bytes, ttl: float) -> None:
        check_ttl(ttl)
        self._space(namespace)[key] = (value, self._clock() + ttl)

    async def add(self, namespace: str, key: str, value: bytes, ttl: float) -> bool:
        check_ttl(ttl)
        space = self._space(namespace)
        if space.get(key) is not None:
            return False
        space[key] = (value, self._clock() + ttl)
        return True

    async def replace_if(
        self, namespace: str, key: str, expected: bytes, value: bytes, ttl: float
    ) -> bool:
        check_ttl(ttl)
        space = self._space(namespace)
        entry = space.get(key)
        if entry is None or entry[0] != expected:
            return False
        space[key] = (value, self._clock() + ttl)
        return True

    async def pop(self, namespace: str, key: str) -> bytes | None:
        entry = self._space(namespace).pop(key, None)
        return entry[0] if entry else None

    async def delete(self, namespace: str, key: str) -> None:
        self._space(namespace).pop(key, None)

    async def items(self, namespace: str) -> list[tuple[str, bytes]]:
        space = self._space(namespace)
        space.expire()
        return [(key, entry[0]) for key, entry in list(space.items())]

    async def close(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return sum(len(space) for space in self._namespaces.values())
