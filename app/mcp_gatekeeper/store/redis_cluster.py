"""``redis+cluster://host:port,host:port``: a Redis Cluster (several masters, slots split between
them) as the shared store.

The key layout is the single server's, ``<prefix><namespace>:<key>``, without a hash tag: every
write (``SET``, ``SET NX``, ``GETDEL``, ``DEL``, the ``replace_if`` script) names exactly one key,
so it runs whole on the master owning that key's slot, and records spread over every master
(a tag per namespace would put all refresh-token families, or all rate-limit buckets, on one).
The one read over many keys, ``items`` (administration and background sync, never a single-use
decision), scans every master and reads each slot's keys with one ``MGET``.

A key prefix holding ``{`` or ``}`` would become the hash tag of every key, pinning the whole
store to one slot: ``config/store.py`` refuses it for this scheme.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster

from .redis import RedisStore

T = TypeVar("T")


class RedisClusterStore(RedisStore):
    def __init__(self, client: RedisCluster, *, prefix: str) -> None:
        super().__init__(client, prefix=prefix)
        self._cluster = client
        self._initialized = False
        self._initializing = asyncio.Lock()

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        # redis-py (8.1) breaks commands sent concurrently while a new cluster client first
        # loads the slot map (a connection without a writer): the first caller loads it, the
        # others wait for it. Later reloads (MOVED, failover) are the client's own business.
        if not self._initialized:
            async with self._initializing:
                if not self._initialized:
                    await super()._call(self._load_slots)
                    self._initialized = True
        return await super()._call(operation)

    async def _load_slots(self) -> None:
        await self._cluster.initialize()

    async def _mget(self, keys: list[bytes]) -> list[Any]:
        # Split by slot, one MGET per slot; not atomic across slots, which ``items`` never needs
        # (a value expiring between SCAN and MGET is already left out).
        values: list[Any] = await self._cluster.mget_nonatomic(keys)
        return values


def split_nodes(netloc: str, default_port: int) -> list[tuple[str, int]]:
    """``h1:7000,h2:7001`` (``[::1]:7000`` for IPv6) as (host, port) pairs."""
    nodes = []
    for address in netloc.split(","):
        host, port = address, ""
        if address.startswith("["):
            host, _, rest = address[1:].partition("]")
            port = rest.removeprefix(":")
        elif ":" in address:
            host, _, port = address.rpartition(":")
        nodes.append((host, int(port) if port else default_port))
    return nodes
