"""The one interface for every piece of state the service keeps.

Signing keys live here now; clients, authorization codes, refresh tokens and consents will too.
Values are opaque bytes under a namespace, each with a lifetime, so a shared backend (Redis) can
replace the in-memory one without the callers noticing. The hot path (``/authenticate``) never
touches the store: it works from in-process snapshots.
"""

from __future__ import annotations

from typing import Protocol


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

    async def pop(self, namespace: str, key: str) -> bytes | None:
        """Remove and return the live value: single use (authorization codes, states)."""
        ...

    async def delete(self, namespace: str, key: str) -> None:
        """Remove the value if present."""
        ...

    async def items(self, namespace: str) -> list[tuple[str, bytes]]:
        """Every live entry of a namespace: for administration, never on a request path."""
        ...
