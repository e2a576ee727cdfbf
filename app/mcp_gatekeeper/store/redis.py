"""``redis://``, ``rediss://``, ``unix://``, Sentinel and Cluster: Redis or Valkey shared by every
replica.

Keys are ``<prefix><namespace>:<key>`` with a server-side expiry (``PX``), so nothing needs
sweeping. Atomicity comes from Redis itself: ``GETDEL`` for ``pop``, ``SET NX`` for ``add`` and a
Lua script for ``replace_if`` (Redis runs a script without interleaving other commands). Every
write names one key, so each runs whole on the Redis Cluster node owning that key's slot
(``redis_cluster.py``). Every failure to talk to Redis becomes ``StoreUnavailable``: callers
answer 503 and background tasks retry, while ``/authenticate`` keeps working from memory. The
client reconnects by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from .base import StoreUnavailable, check_ttl, stop_if_cancelled

T = TypeVar("T")
REPLACE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
BATCH = 500
_GLOB_SPECIAL = str.maketrans({char: "\\" + char for char in "*?[]\\"})


def _ms(ttl: float) -> int:
    check_ttl(ttl)
    return max(1, round(ttl * 1000))


class RedisStore:
    process_local = False

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        *,
        prefix: str = "mcp-gatekeeper:",
        sentinels: Sequence[aioredis.Redis] = (),
    ) -> None:
        self._client = client
        self._sentinels = sentinels
        self._prefix = prefix
        self._replace_if = client.register_script(REPLACE_IF)

    def _key(self, namespace: str, key: str) -> str:
        return f"{self._prefix}{namespace}:{key}"

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except RedisError as exc:
            # redis-py can turn a cancellation into a ConnectionError; a background task
            # being stopped must still stop, not retry.
            stop_if_cancelled()
            raise StoreUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc

    async def get(self, namespace: str, key: str) -> bytes | None:
        value = await self._call(lambda: self._client.get(self._key(namespace, key)))
        return cast(bytes | None, value)

    async def put(self, namespace: str, key: str, value: bytes, ttl: float) -> None:
        ms = _ms(ttl)
        await self._call(lambda: self._client.set(self._key(namespace, key), value, px=ms))

    async def add(self, namespace: str, key: str, value: bytes, ttl: float) -> bool:
        ms = _ms(ttl)
        done = await self._call(
            lambda: self._client.set(self._key(namespace, key), value, px=ms, nx=True)
        )
        return bool(done)

    async def replace_if(
        self, namespace: str, key: str, expected: bytes, value: bytes, ttl: float
    ) -> bool:
        ms = _ms(ttl)
        done = await self._call(
            lambda: self._replace_if(keys=[self._key(namespace, key)], args=[expected, value, ms])
        )
        return bool(done)

    async def pop(self, namespace: str, key: str) -> bytes | None:
        value = await self._call(lambda: self._client.getdel(self._key(namespace, key)))
        return cast(bytes | None, value)

    async def delete(self, namespace: str, key: str) -> None:
        await self._call(lambda: self._client.delete(self._key(namespace, key)))

    async def items(self, namespace: str) -> list[tuple[str, bytes]]:
        start = self._key(namespace, "")
        pattern = start.translate(_GLOB_SPECIAL) + "*"

        async def scan() -> list[tuple[str, bytes]]:
            keys: list[bytes] = [key async for key in self._client.scan_iter(pattern, BATCH)]
            found: list[tuple[str, bytes]] = []
            for index in range(0, len(keys), BATCH):
                batch = keys[index : index + BATCH]
                values = await self._mget(batch)
                found += [
                    (key.decode()[len(start) :], value)
                    for key, value in zip(batch, values, strict=True)
                    if value is not None  # expired between SCAN and MGET
                ]
            return found

        return await self._call(scan)

    async def _mget(self, keys: list[bytes]) -> list[Any]:
        # One server: one MGET. A cluster overrides this (its keys live in many slots).
        values: list[Any] = await self._client.mget(keys)
        return values

    async def close(self) -> None:
        await self._client.aclose()
        for sentinel in self._sentinels:
            await sentinel.aclose()
