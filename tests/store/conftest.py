"""Stores under test: every back-end (a three-master Redis Cluster too), and pairs of independent
clients of one shared back-end."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from mcp_gatekeeper.config.store import StoreConfig
from mcp_gatekeeper.store import Store
from mcp_gatekeeper.store.factory import open_store
from tests.store.redis_cluster import RedisCluster
from tests.store.redis_server import RedisServer


def fernet_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server per test process, on a unix socket."""
    with RedisServer(tmp_path_factory.mktemp("redis"), unix=True) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One real three-master Redis Cluster per test process."""
    with RedisCluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


def store_config(url: str, **extra: str) -> StoreConfig:
    """A store configuration with a fresh key prefix, so tests never see each other's keys."""
    return StoreConfig.model_validate(
        {
            "url": url,
            "encryptionKey": fernet_key(),
            "keyPrefix": f"t-{secrets.token_hex(6)}:",
            **extra,
        }
    )


def backend_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return server.url
    if kind == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    return "memory://"


@pytest.fixture(params=["memory", "sqlite", "redis", "cluster"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each back-end in turn, through the factory the service uses."""
    opened = open_store(store_config(backend_url(request.param, request, tmp_path)))
    yield opened
    await opened.close()


@pytest.fixture(params=["sqlite", "redis", "cluster"])
async def store_pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, Store]]:
    """Two clients of one shared back-end, as two processes would have."""
    config = store_config(backend_url(request.param, request, tmp_path))
    first, second = open_store(config), open_store(config)
    yield first, second
    await first.close()
    await second.close()
