"""Redis, Sentinel and Cluster connections (imported only when ``store.url`` names Redis)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff

from ..config.store import StoreConfig
from .redis import RedisStore
from .redis_cluster import RedisClusterStore, split_nodes

SENTINEL_PORT = 26379
CLUSTER_PORT = 6379


def open_redis_store(config: StoreConfig) -> RedisStore:
    if config.scheme == "redis+cluster":
        return RedisClusterStore(cluster_client(config), prefix=config.key_prefix)
    if config.scheme == "redis+sentinel":
        client, sentinels = sentinel_client(config)
        return RedisStore(client, prefix=config.key_prefix, sentinels=sentinels)
    return RedisStore(redis_client(config), prefix=config.key_prefix)


def _connection_options(config: StoreConfig) -> dict[str, Any]:
    timeout = config.timeout.total_seconds()
    return {
        "username": config.username,
        "password": config.password.get_secret_value() if config.password else None,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        # One quick retry: after a Redis restart the first command on a pooled connection fails,
        # the retry reconnects. More would only make callers wait longer during an outage.
        "retry": Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
        "health_check_interval": 15,
    }


def sentinel_client(config: StoreConfig) -> tuple[aioredis.Redis, list[aioredis.Redis]]:
    """``redis+sentinel://s1:26379,s2:26379/mymaster[/db]``: the master as Sentinel names it
    (found again after a failover), and the Sentinel connections to close at the end."""
    options = _connection_options(config)
    parts = urlsplit(config.url)
    addresses = []
    for address in parts.netloc.split(","):
        host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
        addresses.append((host, int(port) if port else SENTINEL_PORT))
    master, _, db = parts.path.strip("/").partition("/")
    # Sentinels usually have no password of their own: only the timeouts apply to them.
    timeouts = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout")}
    sentinel = Sentinel(addresses, sentinel_kwargs=timeouts, **options)  # type: ignore[no-untyped-call]
    client: aioredis.Redis = sentinel.master_for(master, db=int(db or 0))
    return client, list(sentinel.sentinels)


def cluster_client(config: StoreConfig) -> RedisCluster:
    """``redis+cluster://h1:6379,h2:6379``: any reachable nodes; the client learns the slot map
    from them (again after a failover or resharding: MOVED and ASK are followed)."""
    nodes = split_nodes(urlsplit(config.url).netloc, CLUSTER_PORT)
    startup = [ClusterNode(host, port) for host, port in nodes]
    return RedisCluster(startup_nodes=startup, **_connection_options(config))


def redis_client(config: StoreConfig) -> aioredis.Redis:
    options = _connection_options(config)
    if config.scheme == "rediss" and config.ca_file:
        options["ssl_ca_certs"] = config.ca_file
    client = aioredis.Redis.from_url(config.url, **options)
    return client
