"""One key ring for every process: created once, rotated once, adopted everywhere, sealed."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from mcp_gatekeeper.keys import KeyManager, SigningKey
from mcp_gatekeeper.keys.rotation import NAMESPACE, RING_KEY
from mcp_gatekeeper.store import Store
from mcp_gatekeeper.store.encryption import Encryption, UndecryptableValue
from tests.store.conftest import fernet_key
from tests.support import FakeClock, key_pool

HOUR = 3600.0


class Fleet:
    """Key managers as several processes would run them, counting every key generated."""

    def __init__(self, clock: FakeClock, key: str) -> None:
        self.clock = clock
        self.key = key
        self.generated: Counter[str] = Counter()
        self._generate = key_pool()

    def manager(
        self, store: Store, key: str | None = None, previous: tuple[str, ...] = ()
    ) -> KeyManager:
        def counted(key: SigningKey, reason: str) -> None:
            self.generated[reason] += 1

        return KeyManager(
            store,
            rotation_interval=timedelta(hours=1),
            token_lifetime=timedelta(hours=1),
            clock=self.clock,
            generate=self._generate,
            on_new_key=counted,
            encryption=Encryption(key or self.key, previous),
            poll_interval=timedelta(milliseconds=100),
        )


def kids(keys: KeyManager) -> list[str]:
    return [key["kid"] for key in keys.ring.jwks()["keys"]]


@pytest.fixture
def fleet() -> Fleet:
    return Fleet(FakeClock(), fernet_key())


async def test_one_process_creates_the_ring_and_all_publish_it(
    fleet: Fleet, store_pair: tuple[Store, Store]
) -> None:
    """Six processes starting at once: two keys generated in all, one identical JWKS."""
    managers = [fleet.manager(store) for store in store_pair for _ in range(3)]
    await asyncio.gather(*(keys.start() for keys in managers))
    assert fleet.generated == {"bootstrap": 2}
    assert len({tuple(kids(keys)) for keys in managers}) == 1


async def test_a_due_rotation_happens_once_across_processes(
    fleet: Fleet, store_pair: tuple[Store, Store]
) -> None:
    """When the interval is over, exactly one process rotates; the others adopt its ring."""
    managers = [fleet.manager(store) for store in store_pair for _ in range(3)]
    for keys in managers:
        await keys.start()
    fleet.clock.advance(HOUR)
    await asyncio.gather(*(keys.rotate_if_due() for keys in managers))
    for keys in managers:
        await keys.refresh()
    assert fleet.generated == {"bootstrap": 2, "rotation": 1}
    assert len({tuple(kids(keys)) for keys in managers}) == 1


async def test_a_rotation_elsewhere_signs_with_a_key_everyone_knows(
    fleet: Fleet, store_pair: tuple[Store, Store]
) -> None:
    """The promoted key was published before, so others verify its tokens before they poll."""
    first, second = fleet.manager(store_pair[0]), fleet.manager(store_pair[1])
    await first.start()
    await second.start()
    rotated = await first.rotate()
    assert rotated.current.kid in second.ring.verification_keys
    assert rotated.next.kid not in second.ring.verification_keys
    await second.refresh()
    assert kids(second) == kids(first)


async def test_the_background_task_adopts_new_rings_without_a_restart(
    fleet: Fleet, store_pair: tuple[Store, Store]
) -> None:
    """A process running its poll loop picks up another's rotation within a few polls."""
    first, second = fleet.manager(store_pair[0]), fleet.manager(store_pair[1])
    await first.start()
    await second.start()
    task = asyncio.create_task(second.run())
    try:
        rotated = await first.rotate()
        for _ in range(50):
            if second.ring.current.kid == rotated.current.kid:
                break
            await asyncio.sleep(0.05)
        assert kids(second) == kids(first)
    finally:
        task.cancel()


async def test_private_keys_are_encrypted_at_rest(
    fleet: Fleet, store_pair: tuple[Store, Store]
) -> None:
    """The stored ring is a Fernet token; without the key it cannot be opened."""
    keys = fleet.manager(store_pair[0])
    await keys.start()
    sealed = await store_pair[1].get(NAMESPACE, RING_KEY)
    assert sealed is not None and b"PRIVATE KEY" not in sealed
    assert b"PRIVATE KEY" in Fernet(fleet.key.encode()).decrypt(sealed)
    stranger = fleet.manager(store_pair[1], key=fernet_key())
    with pytest.raises(UndecryptableValue):
        await stranger.start()


async def test_a_new_encryption_key_reseals_the_ring(
    fleet: Fleet, store_pair: tuple[Store, Store]
) -> None:
    """With the old key listed as previous, the ring is read and written back under the new one."""
    old = fleet.manager(store_pair[0])
    await old.start()
    new_key = fernet_key()
    rotated = fleet.manager(store_pair[1], key=new_key, previous=(fleet.key,))
    await rotated.start()
    assert kids(rotated) == kids(old)
    sealed = await store_pair[0].get(NAMESPACE, RING_KEY)
    assert sealed is not None
    Fernet(new_key.encode()).decrypt(sealed)
    only_new = fleet.manager(store_pair[0], key=new_key)
    await only_new.start()
    assert kids(only_new) == kids(old)
    assert fleet.generated == {"bootstrap": 2}


async def test_a_ring_the_store_lost_is_published_again_unchanged(
    fleet: Fleet, store_pair: tuple[Store, Store]
) -> None:
    """A store that comes back empty gets the ring back; no new keys invalidate live tokens."""
    first, second = fleet.manager(store_pair[0]), fleet.manager(store_pair[1])
    await first.start()
    await second.start()
    await store_pair[0].delete(NAMESPACE, RING_KEY)
    await second.refresh()
    await first.refresh()
    assert kids(first) == kids(second)
    assert await store_pair[0].get(NAMESPACE, RING_KEY) is not None
    assert fleet.generated == {"bootstrap": 2}
