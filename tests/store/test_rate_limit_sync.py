"""Rate-limit buckets shared through each real back-end (sqlite, Redis, a Redis Cluster): two
replicas under overload let through no more than the documented bound, and a store that does
not answer never refuses a request.

The replicas are two limiters in this process, each with its own store client, on one clock the
test moves: every 10 ms each gets two requests of one user (200/s each, far over the limit),
and each reconciles once a second, half a second apart, as two processes would.
"""

from __future__ import annotations

import pytest

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.forward_auth.rate_limit_sync import BucketSync, build_rate_limits
from mcp_gatekeeper.hosts import HostRegistry, McpHost
from mcp_gatekeeper.ops.metrics import Metrics
from mcp_gatekeeper.store import Store, StoreUnavailable
from mcp_gatekeeper.store.factory import open_store
from mcp_gatekeeper.tokens import AccessClaims, Identity
from tests.integration.harness import free_port
from tests.store.conftest import store_config
from tests.support import FakeClock, config_dict

HOST = "a.example.test"
RATE, BURST, SECONDS, REPLICAS = 10, 5, 4.0, 2
STEP = 0.01


def limited_config() -> Config:
    raw = config_dict()
    raw["proxy"]["hosts"][0]["rateLimits"] = {
        "perUser": {"requests": {"limit": RATE, "window": "1s", "burst": BURST}}
    }
    return Config.model_validate(raw)


def replica(
    config: Config, store: Store, clock: FakeClock, metrics: Metrics | None = None
) -> tuple[BucketSync, McpHost]:
    hosts = HostRegistry(config)
    sync = build_rate_limits(config, hosts, metrics or Metrics(), store, clock)
    assert sync is not None
    host = hosts.get(HOST)
    assert host is not None
    return sync, host


def claims(subject: str = "alice") -> AccessClaims:
    return AccessClaims(
        issuer=f"https://{HOST}",
        audience=f"https://{HOST}/mcp",
        identity=Identity(subject, f"{subject}@example.test"),
        scopes=("read",),
        client_id="c1",
        jti="j",
        expires_at=2_000_000_000,
    )


async def overload(replicas: list[tuple[BucketSync, McpHost]], clock: FakeClock) -> int:
    """SECONDS of overload; the number of requests let through."""
    admitted = 0
    user = claims()
    next_round = [clock() + 1.0 + index * 0.5 for index in range(len(replicas))]
    end = clock() + SECONDS
    while clock() < end:
        for index, (sync, host) in enumerate(replicas):
            for _ in range(2):
                admitted += sync.limiter.check(host, user, ()) is None
            if clock() >= next_round[index]:
                await sync.round()
                next_round[index] += sync.interval
        clock.advance(STEP)
    return admitted


async def test_two_replicas_hold_the_limit_within_the_documented_bound(
    store_pair: tuple[Store, Store],
) -> None:
    clock = FakeClock()
    config = limited_config()
    replicas = [replica(config, store, clock) for store in store_pair]
    admitted = await overload(replicas, clock)
    exact = BURST + RATE * SECONDS
    # (N - 1) x (burst + 2 x rate x interval): what the other replica can spend unseen.
    bound = exact + (REPLICAS - 1) * (BURST + 2 * RATE * 1.0)
    unshared = REPLICAS * exact
    assert RATE * SECONDS * 0.75 <= admitted <= bound < unshared, (admitted, exact, bound)


async def test_each_replica_alone_would_let_through_twice_as_much() -> None:
    """The same load on process-local stores: what the shared bucket prevents."""
    clock = FakeClock()
    config = limited_config()
    stores = [open_store(store_config("memory://")) for _ in range(REPLICAS)]
    admitted = await overload([replica(config, store, clock) for store in stores], clock)
    assert admitted >= REPLICAS * (RATE * SECONDS)


async def test_a_store_that_does_not_answer_never_refuses_a_request() -> None:
    """Nothing listens on the port: each replica limits on its own, counts the failed rounds,
    and lets through what its own bucket allows."""
    clock = FakeClock()
    config = limited_config()
    down = store_config(f"redis://127.0.0.1:{free_port()}/0", timeout="200ms")
    store = open_store(down)
    try:
        metrics = Metrics()
        sync, host = replica(config, store, clock, metrics)
        user = claims()
        assert [sync.limiter.check(host, user, ()) is None for _ in range(BURST)] == [True] * BURST
        with pytest.raises(StoreUnavailable):
            await sync.round()
        clock.advance(1.0)
        allowed = [sync.limiter.check(host, user, ()) is None for _ in range(BURST + 1)]
        assert allowed == [True] * BURST + [False], "the local bucket still limits, alone"
        failures = sync.limiter._metrics.rate_limit_sync_failures
        assert failures._value.get() == 1
    finally:
        await store.close()
