"""Who may log in, and losing access at the next re-check after being offboarded."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.providers import LoginDenied, LoginRedirect, ProviderError, UpstreamIdentity
from mcp_gatekeeper.providers.demo import DEMO_USER, DemoProvider
from tests.flows.driver import Driver
from tests.support import FakeClock, config_dict, running

A = "a.example.test"


class DirectoryProvider:
    """The demo login, with a directory the test can change between re-checks."""

    def __init__(self) -> None:
        self.demo = DemoProvider()
        self.groups: tuple[str, ...] | None = ("demo",)
        self.down = False

    async def begin(self, *, callback_url: str, state: str) -> LoginRedirect:
        return await self.demo.begin(callback_url=callback_url, state=state)

    async def complete(
        self, *, callback_url: str, params: Mapping[str, str], secrets: Mapping[str, str]
    ) -> UpstreamIdentity:
        return await self.demo.complete(callback_url=callback_url, params=params, secrets=secrets)

    async def recheck(self, identity: UpstreamIdentity) -> UpstreamIdentity:
        if self.down:
            raise ProviderError("directory unreachable")
        if self.groups is None:
            raise LoginDenied("your account was suspended")
        return replace(identity, groups=self.groups)


def config(**proxy: Any) -> Config:
    return Config.model_validate(config_dict(**proxy))


async def refresh(driver: Driver, client_id: str, token: str) -> dict[str, Any]:
    response = await driver.token(
        {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    )
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    "policy",
    [
        {"allowedEmailDomains": [r"corp\.example"]},
        {"allowedEmailDomains": [r"example"]},
        {"allowedEmails": [r"someone@example\.com"]},
        {"allowedGroups": ["admins"]},
    ],
    ids=["other-domain", "partial-domain-match-is-not-enough", "not-listed", "not-in-group"],
)
async def test_user_outside_the_host_policy_sees_why(
    policy: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A refused user gets a 403 page saying why; an audit event records it; no code exists."""
    hosts = [{"host": A, **policy}, {"host": "b.example.test"}]
    caplog.set_level(logging.INFO, logger="mcp_gatekeeper.audit")
    async with running(config(hosts=hosts), base_url=f"https://{A}") as (_app, client):
        driver = Driver(client)
        registered = await driver.register()
        response, _ = await driver.authorize(registered["client_id"])
        page = await driver.sign_in(response)
    assert page.status_code == 403
    assert "demo@example.com" in page.text and "location" not in page.headers
    assert any(getattr(r, "event", None) == "login_denied" for r in caplog.records)


async def test_user_inside_the_policy_gets_in() -> None:
    """Matching domain and group let the user through (regexes match the whole domain)."""
    hosts = [{"host": A, "allowedEmailDomains": [r"example\.com"], "allowedGroups": ["demo"]}]
    async with running(config(hosts=hosts), base_url=f"https://{A}") as (_app, client):
        driver = Driver(client)
        registered = await driver.register()
        code, login = await driver.code_for(registered["client_id"])
        assert (await driver.exchange(code, login)).status_code == 200


@pytest.mark.parametrize(
    ("change", "allowed"),
    [("suspended", False), ("left-group", False), ("still-member", True), ("idp-down", True)],
)
async def test_refresh_rechecks_the_user(change: str, allowed: bool) -> None:
    """After recheckInterval a refresh asks the IdP again; an offboarded user loses access."""
    provider = DirectoryProvider()
    clock = FakeClock()
    hosts = [{"host": A, "allowedGroups": ["demo"]}]
    async with running(config(hosts=hosts), clock, f"https://{A}", provider=provider) as (
        _app,
        client,
    ):
        driver = Driver(client)
        registered = await driver.register()
        code, login = await driver.code_for(registered["client_id"])
        tokens = (await driver.exchange(code, login)).json()
        if change == "suspended":
            provider.groups = None
        elif change == "left-group":
            provider.groups = ("contractors",)
        elif change == "idp-down":
            provider.down = True
        unchecked = await refresh(driver, registered["client_id"], tokens["refresh_token"])
        assert "access_token" in unchecked, "within the interval the IdP is not asked"
        clock.advance(16 * 60)
        checked = await refresh(driver, registered["client_id"], unchecked["refresh_token"])
        gate = await client.get(
            "/authenticate",
            headers={"host": A, "authorization": f"Bearer {unchecked['access_token']}"},
        )
    assert ("access_token" in checked) is allowed
    assert (gate.status_code == 200) is allowed
    if not allowed:
        assert checked["error"] == "invalid_grant"


@pytest.mark.parametrize(("grace", "outage_refreshes"), [("24h", 1), ("0s", 0)])
async def test_an_identity_provider_outage_is_bridged_for_recheck_outage_grace(
    grace: str, outage_refreshes: int
) -> None:
    """Refreshes go on unchecked only until recheckOutageGrace after the last good check; then
    503 temporarily_unavailable keeps the refresh token usable for when the IdP is back."""
    provider, clock = DirectoryProvider(), FakeClock()
    tokens_config = {"recheckInterval": "15m", "recheckOutageGrace": grace}
    settings = Config.model_validate({**config_dict(), "tokens": tokens_config})
    async with running(settings, clock, f"https://{A}", provider=provider) as (_app, client):
        driver = Driver(client)
        registered = await driver.register()
        code, login = await driver.code_for(registered["client_id"])
        token = (await driver.exchange(code, login)).json()["refresh_token"]
        provider.down = True
        for _ in range(outage_refreshes):
            clock.advance(16 * 60)
            bridged = await refresh(driver, registered["client_id"], token)
            assert "access_token" in bridged, bridged
            token = bridged["refresh_token"]
        clock.advance(24 * 3600)
        response = await driver.token(
            {
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": registered["client_id"],
            }
        )
        assert response.status_code == 503
        assert response.json()["error"] == "temporarily_unavailable"
        assert response.headers["cache-control"] == "no-store"
        provider.down = False
        back = await refresh(driver, registered["client_id"], token)
    assert "access_token" in back, "the same refresh token works once the IdP answers again"


def test_demo_user_is_fixed() -> None:
    """The demo identity is what the README promises."""
    assert DEMO_USER.email == "demo@example.com" and DEMO_USER.groups == ("demo",)
