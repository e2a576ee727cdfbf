"""The service on a real Redis that goes away: tokens keep passing, logins get a clear 503,
everything recovers by itself when Redis is back, and /readyz reports it without flapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from tests.flows.driver import Driver
from tests.store.conftest import fernet_key
from tests.store.redis_server import RedisServer
from tests.support import config_dict, running

A = "a.example.test"
RECOVERY_SECONDS = 10.0


@pytest.fixture
def redis_tcp(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, persistent, so it can be stopped and started again."""
    with RedisServer(tmp_path / "redis", persist=True) as server:
        yield server


def shared_config(url: str, key: str) -> Config:
    return Config.model_validate(
        {**config_dict(), "store": {"url": url, "encryptionKey": key, "pollInterval": "200ms"}}
    )


class Replica:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app, self.client, self.driver = app, client, Driver(client)

    async def login(self) -> tuple[dict[str, Any], dict[str, Any]]:
        registered = await self.driver.register()
        code, login = await self.driver.code_for(registered["client_id"])
        response = await self.driver.exchange(code, login)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return registered, tokens

    async def gate(self, token: str) -> int:
        response = await self.client.get(
            "/authenticate", headers={"host": A, "authorization": f"Bearer {token}"}
        )
        return response.status_code

    async def refresh(self, client_id: str, refresh_token: str) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self.driver.token({**form, "client_id": client_id})


@pytest.fixture
async def replicas(redis_tcp: RedisServer) -> AsyncIterator[tuple[Replica, Replica]]:
    """Two apps (as two replicas would be) on the same Redis."""
    config = shared_config(redis_tcp.url, fernet_key())
    async with AsyncExitStack() as stack:
        pair = [
            Replica(*await stack.enter_async_context(running(config, base_url=f"https://{A}")))
            for _ in range(2)
        ]
        yield pair[0], pair[1]


async def test_tokens_pass_and_logins_get_503_while_redis_is_down(
    redis_tcp: RedisServer, replicas: tuple[Replica, Replica]
) -> None:
    """Redis stopped: /authenticate keeps answering 200, /token and /authorize answer 503."""
    first, second = replicas
    registered, tokens = await first.login()
    redis_tcp.stop()
    for replica in (first, second):
        for _ in range(5):
            assert await replica.gate(tokens["access_token"]) == 200
    refused = await second.refresh(registered["client_id"], tokens["refresh_token"])
    assert refused.status_code == 503
    assert refused.json()["error"] == "temporarily_unavailable"
    assert refused.headers["retry-after"] == "5"
    page, _login = await second.driver.authorize(registered["client_id"])
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("application/json")
    browser = await second.client.get(
        "/authorize",
        params={"client_id": registered["client_id"]},
        headers={"host": A, "accept": "text/html"},
    )
    assert browser.status_code == 503 and "try again" in browser.text
    ready = await second.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded" and ready.json()["store"] == "unavailable"
    metrics = (await second.client.get("/metrics")).text
    assert "mcp_gatekeeper_store_up 0.0" in metrics


async def test_everything_recovers_by_itself_when_redis_returns(
    redis_tcp: RedisServer, replicas: tuple[Replica, Replica]
) -> None:
    """Redis back (with its data): the refresh token from before works, new logins work."""
    first, second = replicas
    registered, tokens = await first.login()
    redis_tcp.stop()
    assert (
        await second.refresh(registered["client_id"], tokens["refresh_token"])
    ).status_code == 503
    redis_tcp.start()
    deadline = asyncio.get_running_loop().time() + RECOVERY_SECONDS
    while True:
        response = await second.refresh(registered["client_id"], tokens["refresh_token"])
        if response.status_code != 503 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert response.status_code == 200, response.text
    assert await first.gate(response.json()["access_token"]) == 200
    await second.login()
    for _ in range(50):  # the next background poll of `first` succeeds too
        ready = await first.client.get("/readyz")
        if ready.json()["status"] == "ready":
            break
        await asyncio.sleep(0.1)
    assert ready.json() == {"status": "ready", "store": "ok", "scopesWaiting": []}


async def test_a_revocation_on_one_replica_is_enforced_by_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    """POST /revoke on one replica; the other refuses the token within its poll interval."""
    first, second = replicas
    registered, tokens = await first.login()
    assert await second.gate(tokens["access_token"]) == 200
    response = await first.client.post(
        "/revoke",
        data={"token": tokens["access_token"], "client_id": registered["client_id"]},
        headers={"host": A},
    )
    assert response.status_code == 200
    assert await first.gate(tokens["access_token"]) == 401
    for _ in range(50):
        if await second.gate(tokens["access_token"]) == 401:
            break
        await asyncio.sleep(0.05)
    assert await second.gate(tokens["access_token"]) == 401
