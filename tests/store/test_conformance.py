"""One contract, every back-end: memory, sqlite and a real redis-server pass the same tests."""

from __future__ import annotations

import asyncio

import pytest

from mcp_gatekeeper.store import Store

RACERS = 25


async def test_values_round_trip_as_bytes(store: Store) -> None:
    """Any bytes come back unchanged; a missing key is None."""
    value = bytes(range(256)) * 4
    await store.put("codes", "k", value, ttl=60)
    assert await store.get("codes", "k") == value
    assert await store.get("codes", "missing") is None
    assert await store.get("other", "k") is None


async def test_put_replaces_and_values_expire(store: Store) -> None:
    """put overwrites; a value is gone once its lifetime is over."""
    await store.put("codes", "k", b"one", ttl=60)
    await store.put("codes", "k", b"two", ttl=0.3)
    assert await store.get("codes", "k") == b"two"
    await asyncio.sleep(0.45)
    assert await store.get("codes", "k") is None
    assert await store.pop("codes", "k") is None
    assert await store.items("codes") == []


async def test_add_stores_only_if_absent(store: Store) -> None:
    """add is put-if-absent; an expired value counts as absent."""
    assert await store.add("locks", "k", b"first", ttl=0.3)
    assert not await store.add("locks", "k", b"second", ttl=60)
    assert await store.get("locks", "k") == b"first"
    await asyncio.sleep(0.45)
    assert await store.add("locks", "k", b"third", ttl=60)
    assert await store.get("locks", "k") == b"third"


async def test_replace_if_is_compare_and_swap(store: Store) -> None:
    """replace_if writes only over the expected value, never over a missing or expired one."""
    assert not await store.replace_if("families", "f", b"old", b"new", ttl=60)
    assert await store.get("families", "f") is None
    await store.put("families", "f", b"old", ttl=60)
    assert not await store.replace_if("families", "f", b"other", b"new", ttl=60)
    assert await store.replace_if("families", "f", b"old", b"new", ttl=0.3)
    assert await store.get("families", "f") == b"new"
    await asyncio.sleep(0.45)
    assert not await store.replace_if("families", "f", b"new", b"newer", ttl=60)


async def test_pop_is_single_use(store: Store) -> None:
    """pop returns the value once (authorization codes must not be replayable)."""
    await store.put("codes", "k", b"v", ttl=60)
    assert await store.pop("codes", "k") == b"v"
    assert await store.pop("codes", "k") is None
    assert await store.get("codes", "k") is None


async def test_delete_and_items_stay_in_their_namespace(store: Store) -> None:
    """items lists the live entries of one namespace, whatever characters the keys hold."""
    keys = ["plain", "with:colon", "glob*?[x]", "https://client.example/meta", "ünï"]
    for index, key in enumerate(keys):
        await store.put("clients", key, str(index).encode(), ttl=60)
    await store.put("clients-other", "plain", b"x", ttl=60)
    await store.put("client", "s", b"y", ttl=60)
    found = dict(await store.items("clients"))
    assert found == {key: str(index).encode() for index, key in enumerate(keys)}
    await store.delete("clients", "with:colon")
    await store.delete("clients", "never-there")
    assert "with:colon" not in dict(await store.items("clients"))
    assert await store.get("clients-other", "plain") == b"x"


async def test_lifetimes_must_be_positive(store: Store) -> None:
    """A zero lifetime is a bug in the caller, not a silent no-op."""
    with pytest.raises(ValueError):
        await store.put("a", "b", b"c", ttl=0)
    with pytest.raises(ValueError):
        await store.add("a", "b", b"c", ttl=-1)
    with pytest.raises(ValueError):
        await store.replace_if("a", "b", b"c", b"d", ttl=0)


async def test_one_of_many_concurrent_pops_wins(store_pair: tuple[Store, Store]) -> None:
    """Two clients racing to redeem one code: exactly one gets it."""
    first, second = store_pair
    await first.put("codes", "k", b"v", ttl=60)
    results = await asyncio.gather(
        *(client.pop("codes", "k") for client in (first, second) for _ in range(RACERS))
    )
    assert [result for result in results if result is not None] == [b"v"]


async def test_one_of_many_concurrent_adds_wins(store_pair: tuple[Store, Store]) -> None:
    """Two clients racing for one lock: exactly one takes it, and its value stays."""
    first, second = store_pair
    results = await asyncio.gather(
        *(
            client.add("locks", "k", f"{side}-{index}".encode(), ttl=60)
            for side, client in enumerate((first, second))
            for index in range(RACERS)
        )
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await second.get("locks", "k") == f"{winner // RACERS}-{winner % RACERS}".encode()


async def test_one_of_many_concurrent_swaps_wins(store_pair: tuple[Store, Store]) -> None:
    """Two clients rotating one refresh family from the same state: exactly one swap lands."""
    first, second = store_pair
    await first.put("families", "f", b"current", ttl=60)
    results = await asyncio.gather(
        *(
            client.replace_if("families", "f", b"current", f"{side}-{index}".encode(), ttl=60)
            for side, client in enumerate((first, second))
            for index in range(RACERS)
        )
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await first.get("families", "f") == f"{winner // RACERS}-{winner % RACERS}".encode()


async def test_writes_are_visible_to_the_other_client(store_pair: tuple[Store, Store]) -> None:
    """What one process writes, another reads at once (no client-side cache)."""
    first, second = store_pair
    await first.put("clients", "c", b"registered", ttl=60)
    assert await second.get("clients", "c") == b"registered"
    await second.delete("clients", "c")
    assert await first.get("clients", "c") is None
