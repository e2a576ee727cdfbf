"""Ways to reach Redis in production: TLS with a private CA and a password, and Sentinel
(including a real failover)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from mcp_gatekeeper.store import StoreUnavailable
from mcp_gatekeeper.store.factory import open_store
from tests.store.conftest import store_config
from tests.store.redis_server import RedisServer, SentinelServer
from tests.tls import make_pki

PASSWORD = "correct horse battery staple"


async def test_rediss_with_a_private_ca_and_a_password(tmp_path: Path) -> None:
    """rediss:// verifies the server against store.caFile and authenticates with the password."""
    pki = make_pki(tmp_path)
    with RedisServer(tmp_path / "redis", password=PASSWORD, pki=pki) as server:
        assert server.url.startswith("rediss://")
        store = open_store(
            store_config(server.url, password=PASSWORD, caFile=str(pki.ca_file), username="default")
        )
        try:
            await store.put("codes", "k", b"v", ttl=60)
            assert await store.pop("codes", "k") == b"v"
        finally:
            await store.close()
        wrong = open_store(store_config(server.url, password="wrong", caFile=str(pki.ca_file)))
        try:
            with pytest.raises(StoreUnavailable):
                await wrong.get("codes", "k")
        finally:
            await wrong.close()
        untrusted = open_store(store_config(server.url, password=PASSWORD))
        try:
            with pytest.raises(StoreUnavailable):
                await untrusted.get("codes", "k")
        finally:
            await untrusted.close()


async def test_sentinel_leads_to_the_master(tmp_path: Path) -> None:
    """redis+sentinel://host:port/mymaster asks Sentinel where the master is and uses it."""
    with RedisServer(tmp_path / "redis") as master:
        sentinel = SentinelServer(tmp_path / "sentinel", master).start()
        try:
            url = f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster/0"
            store = open_store(store_config(url))
            try:
                assert await store.add("locks", "k", b"v", ttl=60)
                assert not await store.add("locks", "k", b"w", ttl=60)
                assert await store.replace_if("locks", "k", b"v", b"w", ttl=60)
            finally:
                await store.close()
            with master.client() as direct:
                keys = list(direct.scan_iter("*locks:k"))
                assert len(keys) == 1 and direct.get(keys[0]) == b"w"
        finally:
            sentinel.stop()


async def test_sentinel_failover_keeps_the_state(tmp_path: Path) -> None:
    """The master dies: Sentinel promotes the replica, and the store follows it on its own,
    with what was written before (no restart, no reconfiguration)."""
    with (
        RedisServer(tmp_path / "master") as master,
        RedisServer(tmp_path / "replica", replica_of=master) as replica,
    ):
        sentinel = SentinelServer(tmp_path / "sentinel", master).start()
        store = open_store(store_config(f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster"))
        try:
            await store.put("families", "f1", b"before the failover", ttl=600)
            with master.client() as direct:
                assert direct.wait(1, 5000) == 1, "the replica has the write"
            master.stop()

            deadline = time.monotonic() + 30
            while sentinel.master_port() != replica.port:
                assert time.monotonic() < deadline, "Sentinel did not promote the replica"
                await asyncio.sleep(0.1)
            while True:
                try:
                    assert await store.add("families", "f2", b"after", ttl=600)
                    break
                except StoreUnavailable:
                    assert time.monotonic() < deadline, "the store never found the new master"
                    await asyncio.sleep(0.1)
            assert await store.get("families", "f1") == b"before the failover"
            with replica.client() as promoted:
                assert promoted.role()[0] == b"master"
                assert any(key.endswith(b"families:f2") for key in promoted.scan_iter("*"))
        finally:
            await store.close()
            sentinel.stop()
