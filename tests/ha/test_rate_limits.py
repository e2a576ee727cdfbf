"""Rate limits shared by two replicas on one real Redis, behind a real Traefik that round-robins
/authenticate over them: one user's overload is held to the limit within the documented bound,
and the refusal reaches the client as a 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.ha.client import OAuthClient
from tests.ha.cluster import Cluster, running_cluster

RATE, BURST, REPLICAS = 10, 10, 2
#: Reconciliation every second, plus the store round trips of a loaded two-core box.
SYNC = 1.5
LOAD_SECONDS = 4.0
WORKERS = 8


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    limits = {"perUser": {"requests": {"limit": RATE, "window": "1s", "burst": BURST}}}
    workdir = tmp_path_factory.mktemp("rate-limited")
    with running_cluster(workdir, REPLICAS, {"rateLimits": limits}) as started:
        yield started


@pytest.fixture
async def oauth(limited: Cluster) -> AsyncIterator[OAuthClient]:
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
        yield OAuthClient(http, limited.host)


async def test_two_replicas_hold_one_users_limit(oauth: OAuthClient, limited: Cluster) -> None:
    client_id = await oauth.register(limited.url)
    tokens = await oauth.login(client_id, [limited.url])
    headers = {**oauth.headers, "authorization": f"Bearer {tokens.access}"}
    statuses: list[int] = []
    refusal: list[httpx.Response] = []
    start = time.monotonic()
    end = start + LOAD_SECONDS

    async def worker() -> None:
        while time.monotonic() < end:
            response = await oauth.http.get(f"{limited.url}/mcp", headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 429 and not refusal:
                refusal.append(response)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    elapsed = time.monotonic() - start
    admitted = statuses.count(200)
    exact = BURST + RATE * elapsed
    bound = exact + (REPLICAS - 1) * (BURST + 2 * RATE * SYNC)
    assert set(statuses) <= {200, 429}, statuses
    assert len(statuses) > 2 * bound, "the load was not over the limit"
    assert RATE * elapsed * 0.75 <= admitted <= bound, (admitted, exact, bound, len(statuses))
    response = refusal[0]
    assert 1 <= int(response.headers["retry-after"]) <= 1 + BURST // RATE
    assert response.json()["error"] == "rate_limited"
