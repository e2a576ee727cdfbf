"""How the store is doing, as seen by this process: every operation reports success or failure.

``/readyz`` and the ``mcp_gatekeeper_store_up`` gauge read it; nothing here ever calls the
store by itself, so a probe cannot add load to a struggling Redis.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .base import Store, StoreUnavailable

T = TypeVar("T")


class MonitoredStore:
    """A ``Store`` that remembers since when the wrapped store has been failing."""

    def __init__(self, inner: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.process_local = inner.process_local
        self._clock = clock
        self.down_since: float | None = None
        self.last_error = ""

    @property
    def up(self) -> bool:
        return self.down_since is None

    def status(self) -> dict[str, Any]:
        if self.down_since is None:
            return {"store": "ok"}
        return {
            "store": "unavailable",
            "storeDownSeconds": round(self._clock() - self.down_since, 1),
            "storeError": self.last_error,
        }

    async def _watch(self, operation: Awaitable[T]) -> T:
        try:
            result = await operation
        except StoreUnavailable as exc:
            self.last_error = str(exc)[:200]
            if self.down_since is None:
                self.down_since = self._clock()
            raise
        self.down_since = None
        return result

    async def get(self, namespace: str, key: str) -> bytes | None:
        return await self._watch(self.inner.get(namespace, key))

    async def put(self, namespace: str, key: str, value: bytes, ttl: float) -> None:
        await self._watch(self.inner.put(namespace, key, value, ttl))

    async def add(self, namespace: str, key: str, value: bytes, ttl: float) -> bool:
        return await self._watch(self.inner.add(namespace, key, value, ttl))

    async def replace_if(
        self, namespace: str, key: str, expected: bytes, value: bytes, ttl: float
    ) -> bool:
        return await self._watch(self.inner.replace_if(namespace, key, expected, value, ttl))

    async def pop(self, namespace: str, key: str) -> bytes | None:
        return await self._watch(self.inner.pop(namespace, key))

    async def delete(self, namespace: str, key: str) -> None:
        await self._watch(self.inner.delete(namespace, key))

    async def items(self, namespace: str) -> list[tuple[str, bytes]]:
        return await self._watch(self.inner.items(namespace))

    async def close(self) -> None:
        await self.inner.close()
