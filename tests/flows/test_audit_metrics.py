"""Audit events are counted in /metrics, per app: what an SRE alerts on (replays, failed logins)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.flows.driver import Driver
from tests.support import make_config, running

A = "a.example.test"


async def audit_counts(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    return {
        sample.labels["event"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "mcp_gatekeeper_audit_events"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def test_each_app_counts_its_own_audit_events() -> None:
    """A login, a replayed refresh token and a denied request show up by event name in the
    metrics of the app that saw them, and not in another app running in the same process."""
    async with (
        running(make_config(), base_url=f"https://{A}") as (_app, client),
        running(make_config(), base_url=f"https://{A}") as (_other_app, other),
    ):
        driver = Driver(client)
        client_id = (await driver.register())["client_id"]
        code, login = await driver.code_for(client_id)
        refresh = (await driver.exchange(code, login)).json()["refresh_token"]
        form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id}
        assert (await driver.token(form)).status_code == 200
        assert (await driver.token(form)).json()["error"] == "invalid_grant"  # reused
        denied = await client.get(
            "/authenticate", headers={"host": A, "authorization": "Bearer not-a-token"}
        )
        assert denied.status_code == 401
        counts = await audit_counts(client)
        untouched = await audit_counts(other)

    assert counts["login_allowed"] == 1 and counts["consent_given"] == 1
    assert counts["token_issued"] == 2 and counts["token_refreshed"] == 1  # code, refresh
    assert counts["replay_detected"] == 1 and counts["grant_revoked"] == 1
    assert counts["request_denied"] == 1
    assert counts["key_generated"] >= 1, "background work counts too"
    assert {event for event, count in untouched.items() if count} == {"key_generated"}
    assert untouched["replay_detected"] == 0, "watched events exist from the start at 0"


async def test_token_requests_are_counted_by_grant_and_result() -> None:
    """Per-grant outcomes at /token; a made-up grant_type is one bounded label, not a new one."""
    async with running(make_config(), base_url=f"https://{A}") as (_app, client):
        driver = Driver(client)
        client_id = (await driver.register())["client_id"]
        code, login = await driver.code_for(client_id)
        assert (await driver.exchange(code, login)).status_code == 200
        assert (await driver.exchange(code, login)).json()["error"] == "invalid_grant"
        for grant_type in ("password", "x" * 300, "client_credentials"):
            form = {"grant_type": grant_type, "client_id": client_id}
            assert (await driver.token(form)).json()["error"] == "unsupported_grant_type"
        text = (await client.get("/metrics")).text
    counts = {
        (sample.labels["grant"], sample.labels["result"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "mcp_gatekeeper_token_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert counts == {
        ("authorization_code", "issued"): 1,
        ("authorization_code", "invalid_grant"): 1,
        ("unsupported", "unsupported_grant_type"): 3,
    }
