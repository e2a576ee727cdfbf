"""The in-memory store: lifetimes, single use, bounds."""

from __future__ import annotations

import pytest

from mcp_gatekeeper.store import MemoryStore
from tests.support import FakeClock


async def test_values_expire_with_their_ttl() -> None:
    """A value is gone once its lifetime is over."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await store.put("codes", "k", b"v", ttl=60)
    assert await store.get("codes", "k") == b"v"
    clock.advance(61)
    assert await store.get("codes", "k") is None


async def test_pop_is_single_use() -> None:
    """pop returns the value once (authorization codes must not be replayable)."""
    store = MemoryStore(clock=FakeClock())
    await store.put("codes", "k", b"v", ttl=60)
    assert await store.pop("codes", "k") == b"v"
    assert await store.pop("codes", "k") is None


async def test_namespaces_are_separate_and_bounded() -> None:
    """A full namespace evicts its own oldest entries, never another namespace's."""
    store = MemoryStore(max_entries=3, clock=FakeClock())
    await store.put("keys", "ring", b"r", ttl=600)
    for index in range(10):
        await store.put("codes", str(index), b"x", ttl=600)
    assert await store.get("keys", "ring") == b"r"
    assert len(store) == 4
    await store.delete("keys", "ring")
    assert await store.get("keys", "ring") is None


async def test_ttl_must_be_positive() -> None:
    """A zero lifetime is a bug in the caller, not a silent no-op."""
    with pytest.raises(ValueError):
        await MemoryStore().put("a", "b", b"c", ttl=0)
