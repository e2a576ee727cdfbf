"""Turning ``store.url`` (and its credentials) into a ``Store`` and an ``Encryption``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from ..config.store import StoreConfig
from .base import Store
from .encryption import Encryption
from .memory import MemoryStore


def encryption_for(config: StoreConfig) -> Encryption:
    key = config.encryption_key.get_secret_value() if config.encryption_key else None
    return Encryption(key, config.previous_keys())


def open_store(config: StoreConfig, clock: Callable[[], float] = time.time) -> Store:
    """The back-end ``config.url`` names; connections are opened on first use."""
    scheme = config.scheme
    if scheme == "memory":
        return MemoryStore(clock=clock)
    if scheme == "sqlite":
        # Imported here, as Redis below: memory:// and Redis processes never load sqlite.
        from .sqlite import SqliteStore

        # sqlite waits for a busy writer up to its timeout: give it more than one network hop.
        timeout = max(config.timeout.total_seconds(), 5.0)
        return SqliteStore(Path(urlsplit(config.url).path), timeout=timeout, clock=clock)
    # Imported here: the Redis client costs start-up time and memory that other stores never use.
    from .redis_clients import open_redis_store

    return open_redis_store(config)
