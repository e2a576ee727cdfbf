"""The one interface for every piece of state the service keeps.

Signing keys, registered clients, pending logins, codes, refresh-token families, consent approvals
and the revocation list live here. Values are opaque bytes under a namespace, each with a
lifetime, so the in-memory, sqlite and Redis back-ends are interchangeable (they pass the same
conformance tests). The hot path (``/authenticate``) never touches the store: it works from
in-process snapshots that background tasks keep fresh.

Single use must hold across processes, so the protocol has atomic operations instead of
read-then-write: ``pop`` (codes, states), ``add`` (put-if-absent: locks, new records) and
``replace_if`` (compare-and-swap: refresh-token rotation, the key ring).
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class StoreUnavailable(Exception):
    """The store cannot be reached or did not answer in time; the caller answers 503."""


def stop_if_cancelled() -> None:
    """For background loops over the store: a cancellation a client library swallowed (redis-py
    can, mid-reconnect) still stops the loop at its next turn instead of leaving it running."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def check_ttl(ttl: float) -> None:
    """A lifetime of zero or less is a bug in the caller, not a silent no-op."""
    if ttl <= 0:
        raise ValueError("ttl must be positive")


class Store(Protocol):
    """Namespaced bytes with a time to live; every implementation is bounded in size and time."""

    #: True when state is visible to one process only (several workers would each see their own).
    process_local: bool

    async def get(self, namespace: str, key: str) -> bytes | None:
        """The live value, or ``None``."""
        ...

    async def put(self, namespace: str, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds, replacing any previous value."""
        ...

    async def add(self, namespace: str, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if no live value exists; ``True`` if it was stored (atomic)."""
        ...

    async def replace_if(
        self, namespace: str, key: str, expected: bytes, value: bytes, ttl: float
    ) -> bool:
        """Replace the live value by ``value`` only if it equals ``expected`` (atomic)."""
        ...

    async def pop(self, namespace: str, key: str) -> bytes | None:
        """Remove and return the live value: single use (authorization codes, states), atomic."""
        ...

    async def delete(self, namespace: str, key: str) -> None:
        """Remove the value if present."""
        ...

    async def items(self, namespace: str) -> list[tuple[str, bytes]]:
        """Every live entry of a namespace: for administration and background sync only."""
        ...

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
