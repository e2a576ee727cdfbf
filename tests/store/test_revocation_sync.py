"""Revocations travel through the store: enforced at once locally, by the others on their poll."""

from __future__ import annotations

import asyncio

import pytest

from mcp_gatekeeper.store import MemoryStore, Store, StoreUnavailable
from mcp_gatekeeper.tokens import RevocationList
from mcp_gatekeeper.tokens.revocation_sync import RevocationSync
from tests.support import FakeClock

EXPIRES = FakeClock().now + 3600


class FlakyStore(MemoryStore):
    """A memory store shared by the 'processes' of a test, that can be switched off."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.item_reads = 0

    async def get(self, namespace: str, key: str) -> bytes | None:
        if self.down:
            raise StoreUnavailable("switched off")
        return await super().get(namespace, key)

    async def put(self, namespace: str, key: str, value: bytes, ttl: float) -> None:
        if self.down:
            raise StoreUnavailable("switched off")
        await super().put(namespace, key, value, ttl)

    async def items(self, namespace: str) -> list[tuple[str, bytes]]:
        self.item_reads += 1
        return await super().items(namespace)


def process(store: Store) -> tuple[RevocationList, RevocationSync]:
    clock = FakeClock()
    revocations = RevocationList(clock)
    return revocations, RevocationSync(store, revocations, poll_interval=0.05, clock=clock)


async def test_a_revocation_reaches_the_other_processes_on_their_next_poll(
    store_pair: tuple[Store, Store],
) -> None:
    """Revoked on A (enforced there at once), written to the store, learnt by B when it polls."""
    (a_list, _a_sync), (b_list, b_sync) = process(store_pair[0]), process(store_pair[1])
    await b_sync.poll()
    a_list.revoke("jti-1", EXPIRES)
    assert "jti-1" in a_list
    await a_list.publish()
    assert "jti-1" not in b_list
    await b_sync.poll()
    assert "jti-1" in b_list


async def test_the_list_is_reloaded_only_when_its_version_changes() -> None:
    """A poll with nothing new reads one small record, not the whole list."""
    store = FlakyStore()
    (a_list, _a_sync), (_b_list, b_sync) = process(store), process(store)
    await b_sync.poll()
    await b_sync.poll()
    await b_sync.poll()
    assert store.item_reads == 1
    a_list.revoke("jti-1", EXPIRES)
    await a_list.publish()
    await b_sync.poll()
    assert store.item_reads == 2


async def test_revocations_made_during_an_outage_are_published_when_it_ends() -> None:
    """The store is down: the revocation holds locally, publish says 503, the loop retries."""
    store = FlakyStore()
    (a_list, a_sync), (b_list, b_sync) = process(store), process(store)
    store.down = True
    a_list.revoke("jti-1", EXPIRES)
    assert "jti-1" in a_list
    with pytest.raises(StoreUnavailable):
        await a_list.publish()
    tasks = [asyncio.create_task(a_sync.run()), asyncio.create_task(b_sync.run())]
    try:
        await asyncio.sleep(0.15)
        assert "jti-1" not in b_list
        store.down = False
        for _ in range(40):
            if "jti-1" in b_list:
                break
            await asyncio.sleep(0.05)
        assert "jti-1" in b_list
    finally:
        for task in tasks:
            task.cancel()


async def test_a_store_that_comes_back_empty_forgets_nothing_learnt() -> None:
    """Reloads only add: a revocation survives in memory even if the store lost it."""
    store = FlakyStore()
    (a_list, _a_sync), (b_list, b_sync) = process(store), process(store)
    a_list.revoke("jti-1", EXPIRES)
    await a_list.publish()
    await b_sync.poll()
    for key, _value in await store.items("revoked"):
        await store.delete("revoked", key)
    await store.put("revoked-meta", "version", b"new", ttl=60)
    await b_sync.poll()
    assert "jti-1" in b_list


def test_an_entry_lives_exactly_as_long_as_its_token_however_many_follow() -> None:
    """Mass revocation never pushes an older entry out (that would make its token valid again);
    each entry leaves when its token would be refused anyway, at exp + clock skew."""
    clock = FakeClock()
    revocations = RevocationList(clock, clock_skew=60)
    revocations.revoke("old", EXPIRES)
    for number in range(150_000):
        revocations.revoke(f"jti-{number}", EXPIRES + 600)
    assert "old" in revocations and len(revocations) == 150_001
    clock.advance(EXPIRES + 60 - clock.now - 1)
    assert "old" in revocations
    clock.advance(1)
    assert "old" not in revocations and "jti-0" in revocations
    revocations.revoke("dead", clock.now - 60)
    assert "dead" not in revocations
