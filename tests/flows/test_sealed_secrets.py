"""What the identity provider hands over never lies in the store in the clear.

A real sqlite store on disk; the test reads its files byte by byte, as someone holding a backup
would, at every step of a login, and checks the login still works end to end: the upstream PKCE
verifier reaches the callback, the upstream refresh token reaches the re-check.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.oauth.sealed import SEALED_PREFIX
from mcp_gatekeeper.providers import LoginRedirect, UpstreamIdentity
from mcp_gatekeeper.providers.demo import DemoProvider
from tests.flows.driver import Driver
from tests.support import FakeClock, config_dict, running, state_of

A = "a.example.test"
VERIFIER = "upstream-pkce-verifier-5a7c0b"
FIRST_REFRESH = "upstream-refresh-token-one-91d2e4"
SECOND_REFRESH = "upstream-refresh-token-two-3f8b6a"
RECHECK_AFTER = 16 * 60


class UpstreamWithSecrets:
    """The demo login, plus the secrets a real IdP leaves with us (rotating refresh tokens)."""

    def __init__(self) -> None:
        self.demo = DemoProvider()
        self.verifiers_seen: list[str] = []
        self.refresh_tokens_seen: list[str | None] = []

    async def begin(self, *, callback_url: str, state: str) -> LoginRedirect:
        login = await self.demo.begin(callback_url=callback_url, state=state)
        return LoginRedirect(login.url, {"code_verifier": VERIFIER})

    async def complete(
        self, *, callback_url: str, params: Mapping[str, str], secrets: Mapping[str, str]
    ) -> UpstreamIdentity:
        self.verifiers_seen.append(secrets["code_verifier"])
        user = await self.demo.complete(callback_url=callback_url, params=params, secrets=secrets)
        return replace(user, recheck_secret=FIRST_REFRESH)

    async def recheck(self, identity: UpstreamIdentity) -> UpstreamIdentity:
        self.refresh_tokens_seen.append(identity.recheck_secret)
        return replace(identity, recheck_secret=SECOND_REFRESH)


def sqlite_config(path: Path, key: str, previous: str | None = None) -> Config:
    store: dict[str, Any] = {"url": f"sqlite:///{path}", "encryptionKey": key}
    if previous is not None:
        store["previousEncryptionKeys"] = previous
    return Config.model_validate({**config_dict(), "store": store})


def dump(path: Path) -> bytes:
    """Every byte the store has on disk (the database and its write-ahead log)."""
    files = [path, path.with_name(path.name + "-wal")]
    return b"".join(file.read_bytes() for file in files if file.exists())


def assert_no_secret_in(path: Path) -> None:
    everything = dump(path)
    for secret in (VERIFIER, FIRST_REFRESH, SECOND_REFRESH):
        assert secret.encode() not in everything, f"{secret} lies in the store in the clear"


@asynccontextmanager
async def gatekeeper(
    config: Config, clock: FakeClock, provider: UpstreamWithSecrets
) -> AsyncIterator[tuple[FastAPI, Driver]]:
    async with running(config, clock, f"https://{A}", provider=provider) as (app, client):
        yield app, Driver(client)


async def refresh(driver: Driver, client_id: str, token: str) -> httpx.Response:
    return await driver.token(
        {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    )


async def stored_family(app: FastAPI) -> tuple[str, dict[str, Any]]:
    entries = await state_of(app).store.items(state_of(app).records.families.namespace)
    assert len(entries) == 1
    key, raw = entries[0]
    return key, json.loads(raw)


async def log_in(driver: Driver) -> tuple[str, dict[str, Any]]:
    """A registered client's first login: its client id and its tokens."""
    client_id = (await driver.register())["client_id"]
    code, login = await driver.code_for(client_id)
    response = await driver.exchange(code, login)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return client_id, tokens


async def rewrite_recheck_secret(app: FastAPI, stored: str) -> None:
    """Put ``stored`` in the family record as it lies in the store, past the codec."""
    family_id, family = await stored_family(app)
    family["user"]["recheck_secret"] = stored
    await state_of(app).store.put(
        state_of(app).records.families.namespace, family_id, json.dumps(family).encode(), 3600
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


async def test_a_store_dump_never_shows_upstream_secrets(db: Path) -> None:
    """Login transaction, consent page, code, refresh family: sealed at every step; the IdP
    still receives its verifier at the callback and its refresh token at the re-check."""
    provider, clock, key = UpstreamWithSecrets(), FakeClock(), Fernet.generate_key().decode()
    async with gatekeeper(sqlite_config(db, key), clock, provider) as (app, driver):
        client_id = (await driver.register())["client_id"]
        response, login = await driver.authorize(client_id)
        assert_no_secret_in(db)  # the login transaction: upstream verifier
        consent = await driver.sign_in(response)
        assert provider.verifiers_seen == [VERIFIER]
        assert_no_secret_in(db)  # the pending consent: the user with the refresh token
        answered = await driver.answer_consent(consent, "approve")
        code = answered.headers["location"].split("code=")[1].split("&")[0]
        assert_no_secret_in(db)  # the authorization code
        tokens = (await driver.exchange(code, login)).json()
        assert_no_secret_in(db)  # the refresh family
        _key, family = await stored_family(app)
        assert family["user"]["recheck_secret"].startswith(SEALED_PREFIX)
        assert family["user"]["email"] == "demo@example.com", "the rest stays readable"

        clock.advance(RECHECK_AFTER)
        again = await refresh(driver, client_id, tokens["refresh_token"])
        assert again.status_code == 200, again.text
        assert provider.refresh_tokens_seen == [FIRST_REFRESH]
        assert_no_secret_in(db)
        clock.advance(RECHECK_AFTER)
        third = await refresh(driver, client_id, again.json()["refresh_token"])
        assert third.status_code == 200, third.text
    assert provider.refresh_tokens_seen == [FIRST_REFRESH, SECOND_REFRESH]


async def test_logins_survive_an_encryption_key_change(db: Path) -> None:
    """New key first, old key in previousEncryptionKeys: refreshes go on, and the family is
    sealed again with the new key at its next write."""
    provider, clock = UpstreamWithSecrets(), FakeClock()
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    async with gatekeeper(sqlite_config(db, old), clock, provider) as (_app, driver):
        client_id, tokens = await log_in(driver)
    clock.advance(RECHECK_AFTER)
    async with gatekeeper(sqlite_config(db, new, previous=old), clock, provider) as (app, driver):
        again = await refresh(driver, client_id, tokens["refresh_token"])
        assert again.status_code == 200, again.text
        _key, family = await stored_family(app)
    assert provider.refresh_tokens_seen == [FIRST_REFRESH]
    sealed = family["user"]["recheck_secret"].removeprefix(SEALED_PREFIX).encode()
    assert Fernet(new.encode()).decrypt(sealed).decode() == SECOND_REFRESH


async def test_a_family_sealed_with_a_lost_key_ends_that_login_only(db: Path) -> None:
    """A record nobody can open any more answers invalid_grant (sign in again), not a 500."""
    provider, clock = UpstreamWithSecrets(), FakeClock()
    async with gatekeeper(sqlite_config(db, Fernet.generate_key().decode()), clock, provider) as (
        app,
        driver,
    ):
        client_id, tokens = await log_in(driver)
        lost = Fernet(Fernet.generate_key()).encrypt(FIRST_REFRESH.encode()).decode()
        await rewrite_recheck_secret(app, SEALED_PREFIX + lost)

        refused = await refresh(driver, client_id, tokens["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        assert (await log_in(driver))[1]["access_token"], "a new login works"


async def test_records_from_before_sealing_are_read_and_sealed_again(db: Path) -> None:
    """A family written in the clear (by an older release) still refreshes, and is sealed by
    that refresh."""
    provider, clock = UpstreamWithSecrets(), FakeClock()
    async with gatekeeper(sqlite_config(db, Fernet.generate_key().decode()), clock, provider) as (
        app,
        driver,
    ):
        client_id, tokens = await log_in(driver)
        await rewrite_recheck_secret(app, FIRST_REFRESH)

        clock.advance(RECHECK_AFTER)
        again = await refresh(driver, client_id, tokens["refresh_token"])
        assert again.status_code == 200, again.text
        _key, family = await stored_family(app)
    assert provider.refresh_tokens_seen == [FIRST_REFRESH]
    assert family["user"]["recheck_secret"].startswith(SEALED_PREFIX)
