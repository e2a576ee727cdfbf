"""The kill switch across replicas: two app instances on one real Redis, each with its own
revocation list in memory. After `admin clients revoke` or `admin users revoke` on one, the other
refuses the client's access tokens within the documented delay (pollInterval + store timeout),
for a client that never received a refresh token."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx

from mcp_gatekeeper.config import Config
from tests.flows.test_admin import ACCESS_ONLY, Admin, admin_config
from tests.store.conftest import fernet_key
from tests.store.redis_server import RedisServer
from tests.support import running

A = "a.example.test"
POLL_INTERVAL = 0.5


def replica_config(redis_server: RedisServer) -> Config:
    store = {
        "url": redis_server.url,
        "encryptionKey": fernet_key(),
        "keyPrefix": f"t-{secrets.token_hex(6)}:",
        "pollInterval": f"{int(POLL_INTERVAL * 1000)}ms",
    }
    return Config.model_validate(admin_config() | {"store": store})


@asynccontextmanager
async def two_replicas(config: Config) -> AsyncIterator[tuple[Admin, Admin]]:
    """The second starts after the first, so it loads the signing keys the first wrote."""
    async with running(config, base_url=f"https://{A}") as (_a, first):
        async with running(config, base_url=f"https://{A}") as (_b, second):
            yield Admin(first), Admin(second)


async def refused_after(admin: Admin, token: str, limit: float) -> float:
    """Seconds until ``admin``'s replica refuses ``token`` (fails past ``limit``)."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < limit:
        if await admin.gate(token) == 401:
            return elapsed
        await asyncio.sleep(0.05)
    raise AssertionError(f"still accepted {limit:.1f} s after the revoke")


async def check_kill_switch(
    config: Config, revoke: Callable[[Admin, str], Awaitable[httpx.Response]]
) -> None:
    limit = config.store.poll_interval.total_seconds() + config.store.timeout.total_seconds()
    async with two_replicas(config) as (first, second):
        client_id, tokens = await first.signed_in_client(**ACCESS_ONLY)
        token = tokens["access_token"]
        assert "refresh_token" not in tokens
        # Both accept it (and cache the verification) before the revoke.
        assert (await first.gate(token), await second.gate(token)) == (200, 200)
        response = await revoke(first, client_id)
        assert response.status_code == 200 and response.json()["tokens_revoked"] == 1
        assert await first.gate(token) == 401
        await refused_after(second, token, limit)


async def test_a_client_revoke_reaches_the_other_replica_in_time(
    redis_server: RedisServer,
) -> None:
    """`admin clients revoke` on one replica: the other refuses the token within the delay."""

    async def revoke_client(admin: Admin, client_id: str) -> httpx.Response:
        return await admin.call("DELETE", f"/clients/{client_id}")

    await check_kill_switch(replica_config(redis_server), revoke_client)


async def test_a_user_revoke_reaches_the_other_replica_in_time(
    redis_server: RedisServer,
) -> None:
    """`admin users revoke` on one replica: the other refuses the token within the delay."""

    async def revoke_user(admin: Admin, _client_id: str) -> httpx.Response:
        return await admin.call("POST", "/users/demo@example.com/revoke")

    await check_kill_switch(replica_config(redis_server), revoke_user)
