"""redis+cluster://: what the configuration accepts, and the store on a real three-master
cluster beyond the conformance suite (which runs on it too: conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from mcp_gatekeeper.store.factory import open_store
from mcp_gatekeeper.store.redis_cluster import split_nodes
from tests.store.conftest import fernet_key, store_config
from tests.store.redis_cluster import RedisCluster
from tests.store.test_store_config import problems


@pytest.mark.parametrize(
    ("store", "why"),
    [
        ({"url": "redis+cluster://n1:7000/3"}, "store.url: a Redis Cluster has database 0 only"),
        ({"url": "redis+cluster://:pw@n1:7000"}, "store.url: put the credentials"),
        ({"url": "redis+cluster://n1:7000", "keyPrefix": "{gk}:"}, "store.keyPrefix: in a Redis"),
        ({"url": "redis+cluster://n1:7000", "caFile": "/ca.pem"}, "store.caFile: TLS"),
    ],
)
def test_unusable_cluster_settings_are_explained(
    tmp_path: Path, store: dict[str, str], why: str
) -> None:
    found = problems(tmp_path, {"store": {**store, "encryptionKey": fernet_key()}})
    assert len(found) == 1 and found[0].startswith(why), found


def test_any_nodes_may_be_named() -> None:
    assert split_nodes("n1:7000,n2,[::1]:7002", 6379) == [
        ("n1", 7000),
        ("n2", 6379),
        ("::1", 7002),
    ]


async def test_records_spread_over_every_master_and_items_finds_them_all(
    redis_cluster: RedisCluster,
) -> None:
    """No hash tag pins the store to one node: 60 records land on all three masters, and
    ``items`` (a scan of every master, one MGET per slot) returns each of them once."""
    config = store_config(redis_cluster.url)
    store = open_store(config)
    try:
        for index in range(60):
            await store.put("families", f"f{index}", b"%d" % index, ttl=60)
        assert sorted(await store.items("families")) == sorted(
            (f"f{index}", b"%d" % index) for index in range(60)
        )
        holding = []
        for port in redis_cluster.ports:
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0) as node:
                holding.append(len(node.keys(f"{config.key_prefix}families:*")))
        assert sum(holding) == 60 and all(holding), holding
    finally:
        await store.close()
