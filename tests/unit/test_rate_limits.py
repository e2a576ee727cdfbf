"""Rate limits at /authenticate: the bucket arithmetic, and what a user or client sees when a
limit is reached (one process; the sharing between replicas is tests/store/test_rate_limit_sync.py
and tests/ha/test_rate_limits.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.forward_auth.shared_bucket import (
    LocalBucket,
    SharedLevel,
    reconcile,
    refilled,
    seconds_to_full,
)
from tests.support import FakeClock, config_dict, mint, running

HOST = "a.example.test"
ENVOY = {"host": HOST}
NGINX = {"host": "127.0.0.1", "x-original-url": f"http://{HOST}/mcp"}


def test_a_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    bucket = LocalBucket(capacity=3, now=100.0)
    assert [bucket.take(1, 100.0, rate=0.5, capacity=3) for _ in range(4)] == [True] * 3 + [False]
    assert bucket.shortfall(1, 100.0, rate=0.5, capacity=3) == pytest.approx(2.0)
    assert bucket.shortfall(1, 101.0, rate=0.5, capacity=3) == pytest.approx(1.0)
    assert bucket.shortfall(1, 102.0, rate=0.5, capacity=3) == 0
    assert bucket.pending == 3
    bucket.give_back(1)  # a request another limit refused spent nothing
    assert bucket.pending == 2 and bucket.shortfall(2, 102.0, rate=0.5, capacity=3) == 0
    # Never above the burst, however long it stays unused.
    assert bucket.shortfall(4, 10_000.0, rate=0.5, capacity=3) == pytest.approx(2.0)


def test_a_clock_running_behind_refills_nothing() -> None:
    assert refilled(1.0, since=50.0, now=40.0, rate=10, capacity=5) == 1.0
    assert refilled(1.0, since=50.0, now=50.2, rate=10, capacity=5) == pytest.approx(3.0)


def test_reconciling_charges_every_replica_and_carries_the_debt() -> None:
    first = reconcile(None, spent=4, now=10.0, rate=1, capacity=5)  # a missing bucket was full
    assert first == SharedLevel(level=1, at=10.0)
    # Another replica spent 5 from its own (stale) view meanwhile: the shared bucket owes 4.
    second = reconcile(first, spent=5, now=10.0, rate=1, capacity=5)
    assert second.level == -4
    assert seconds_to_full(second, rate=1, capacity=5) == 9
    # A replica adopting it refuses until the debt is paid, counting what it spent meanwhile.
    bucket = LocalBucket(capacity=5, now=10.0)
    bucket.adopt(second, spent_meanwhile=1)
    assert bucket.shortfall(1, 10.0, rate=1, capacity=5) == pytest.approx(6.0)


def limits_config(limits: dict[str, Any], family: str = "host") -> Config:
    raw = config_dict(trustedHostHeaders=family)
    raw["proxy"]["hosts"][0]["rateLimits"] = limits
    raw["proxy"]["hosts"][0]["scopes"][0]["tools"] = ["get", "put"]
    return Config.model_validate(raw)


def call(*tools: str) -> bytes:
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool}}
        for i, tool in enumerate(tools)
    ]
    return json.dumps(batch[0] if len(batch) == 1 else batch).encode()


async def test_a_user_past_the_limit_gets_429_with_retry_after() -> None:
    clock = FakeClock()
    config = limits_config({"perUser": {"requests": {"limit": 3, "window": "1m"}}})
    async with running(config, clock) as (app, client):
        alice, bob = mint(app, HOST), mint(app, HOST, subject="bob")

        async def ask(token: str, **headers: str) -> Any:
            sent = {**ENVOY, "authorization": f"Bearer {token}", **headers}
            return await client.get("/authenticate", headers=sent)

        assert [(await ask(alice)).status_code for _ in range(3)] == [200, 200, 200]
        refused = await ask(alice)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "20"  # one request of 3 per minute: 20 s
        assert refused.json()["error"] == "rate_limited"
        assert "3 requests per 1m" in refused.json()["error_description"]
        assert (await ask(bob)).status_code == 200, "another user has a bucket of their own"
        mcp = await ask(alice, accept="application/json, text/event-stream")
        assert (
            mcp.status_code == 429 and "try again in 20 seconds" in mcp.json()["error"]["message"]
        )
        clock.advance(20)
        assert [(await ask(alice)).status_code for _ in range(2)] == [200, 429]
        metrics = (await client.get("/metrics")).text
        assert f'mcp_gatekeeper_rate_limited_total{{host="{HOST}",limit="user_requests"}} 3.0' in (
            metrics
        )
        assert 'result="rate_limited"' in metrics


async def test_behind_nginx_the_refusal_is_a_403_that_says_when() -> None:
    config = limits_config(
        {"perUser": {"requests": {"limit": 1, "window": "1h"}}}, "x-original-url"
    )
    async with running(config, FakeClock()) as (app, client):
        sent = {**NGINX, "authorization": f"Bearer {mint(app, HOST)}"}
        assert (await client.get("/authenticate", headers=sent)).status_code == 200
        refused = await client.get("/authenticate", headers=sent)
        assert refused.status_code == 403
        assert "try again in 3600 seconds" in refused.json()["error_description"]


async def test_the_status_can_be_set_per_host() -> None:
    limits = {"refusal": "403", "perUser": {"requests": {"limit": 1}}}
    async with running(limits_config(limits), FakeClock()) as (app, client):
        sent = {**ENVOY, "authorization": f"Bearer {mint(app, HOST)}"}
        await client.get("/authenticate", headers=sent)
        assert (await client.get("/authenticate", headers=sent)).status_code == 403


async def test_tool_calls_count_each_call_and_a_tool_limit_only_its_tool() -> None:
    limits = {
        "perUser": {"toolCalls": {"limit": 4, "window": "1m"}, "tools": {"put": {"limit": 1}}},
    }
    async with running(limits_config(limits), FakeClock()) as (app, client):
        token = mint(app, HOST, scopes=("read",))

        async def post(body: bytes) -> int:
            sent = {**ENVOY, "authorization": f"Bearer {token}", "content-type": "application/json"}
            return (await client.post("/authenticate", headers=sent, content=body)).status_code

        assert await post(call("put")) == 200
        assert await post(call("put")) == 429, "one put per minute"
        assert await post(call("get", "get")) == 200, "a refused call spent nothing"
        initialize = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}'
        assert await post(initialize) == 200, "no tool call: only requests count"
        assert await post(call("get")) == 200
        assert await post(call("get")) == 429, "four tool calls per minute"


async def test_a_client_limit_adds_up_its_users() -> None:
    limits = {"perClient": {"requests": {"limit": 10, "burst": 2}}}
    async with running(limits_config(limits), FakeClock()) as (app, client):
        statuses = []
        for user in ("alice", "bob", "carol"):
            sent = {**ENVOY, "authorization": f"Bearer {mint(app, HOST, subject=user)}"}
            statuses.append((await client.get("/authenticate", headers=sent)).status_code)
        assert statuses == [200, 200, 429]


async def test_hosts_without_limits_are_not_limited() -> None:
    config = limits_config({"perUser": {"requests": {"limit": 1}}})
    async with running(config, FakeClock()) as (app, client):
        sent = {"host": "b.example.test", "authorization": f"Bearer {mint(app, 'b.example.test')}"}
        assert [
            (await client.get("/authenticate", headers=sent)).status_code for _ in range(5)
        ] == [200] * 5


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({}, "perUser or perClient"),
        ({"perUser": {}}, "perUser or perClient"),
        ({"perUser": {"requests": {"limit": 5, "window": "500ms"}}}, "between 1s and 1d"),
        ({"perUser": {"requests": {"limit": 0}}}, "greater than or equal to 1"),
        ({"perClient": {"requests": {"limit": 5, "perMinute": 3}}}, "Extra inputs"),
    ],
)
def test_limits_that_mean_nothing_are_refused(limits: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        limits_config(limits)
