"""Turning ``store.url`` (and its credentials) into a ``Store`` and an ``Encryption``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff

from ..config.store import StoreConfig
from .base import Store
from .encryption import Encryption
from .memory import MemoryStore
from .redis import RedisStore
from .sqlite import SqliteStore

SENTINEL_PORT = 26379


def encryption_for(config: StoreConfig) -> Encryption:
    key = config.encryption_key.get_secret_value() if config.encryption_key else None
    return Encryption(key, config.previous_keys())


def open_store(config: StoreConfig, clock: Callable[[], float] = time.time) -> Store:
    """The back-end ``config.url`` names; connections are opened on first use."""
    scheme = config.scheme
    if scheme == "memory":
        return MemoryStore(clock=clock)
    if scheme == "sqlite":
        # sqlite waits for a busy writer up to its timeout: give it more than one network hop.
        timeout = max(config.timeout.total_seconds(), 5.0)
        return SqliteStore(Path(urlsplit(config.url).path), timeout=timeout, clock=clock)
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


def redis_client(config: StoreConfig) -> aioredis.Redis:
    options = _connection_options(config)
    if config.scheme == "rediss" and config.ca_file:
        options["ssl_ca_certs"] = config.ca_file
    client = aioredis.Redis.from_url(config.url, **options)
    return client
