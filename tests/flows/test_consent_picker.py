"""The consent screen as a scope picker: the token carries exactly what the user ticked."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from mcp_gatekeeper.config import Config
from tests.flows.driver import Driver, query_of, ticked_scopes
from tests.support import config_dict, running

A = "a.example.test"
XSS = '<img src=x onerror="alert(1)">'
SCOPES = [
    {"name": "notes:read", "description": "Read your notes", "tools": ["list_notes"]},
    {"name": "notes:write", "description": f"Change notes {XSS}", "tools": ["add_note"]},
]


def config(**proxy: Any) -> Config:
    return Config.model_validate(config_dict(hosts=[{"host": A, "scopes": SCOPES}], **proxy))


async def _consent_page(driver: Driver, **params: str) -> Any:
    client = await driver.register(client_name="Notes </b><script>alert(2)</script>")
    response, login = await driver.authorize(client["client_id"], **params)
    return await driver.sign_in(response), login


@pytest.mark.parametrize(
    ("ticked", "granted"),
    [
        (["notes:read"], "notes:read"),
        (["notes:read", "notes:write"], "notes:read notes:write"),
        ([], ""),
    ],
    ids=["read-only", "both", "none"],
)
async def test_token_carries_exactly_the_ticked_scopes(ticked: list[str], granted: str) -> None:
    """Requested scopes are preselected; the user's ticks decide the token."""
    async with running(config(), base_url=f"https://{A}") as (_app, client):
        driver = Driver(client)
        page, login = await _consent_page(driver, scope="notes:read notes:write")
        assert ticked_scopes(page.text) == ["notes:read", "notes:write"]
        final = await driver.answer_consent(page, "approve", scopes=ticked)
        tokens = (await driver.exchange(query_of(final.headers["location"])["code"], login)).json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["scope"] == granted and tokens["scope"] == granted


async def test_picker_shows_descriptions_and_tools_escaped() -> None:
    """Scope descriptions and client names are untrusted: shown as text, never as markup."""
    async with running(config(), base_url=f"https://{A}") as (_app, client):
        page, _ = await _consent_page(Driver(client), scope="notes:read")
    assert "Tools: list_notes" in page.text and "Read your notes" in page.text
    assert XSS not in page.text and "&lt;img src=x onerror=" in page.text
    assert "<script>alert(2)</script>" not in page.text
    assert ticked_scopes(page.text) == ["notes:read"], "only the requested scope is preselected"


async def test_forged_scopes_beyond_the_host_are_ignored() -> None:
    """Ticking a scope the host does not offer grants nothing extra."""
    async with running(config(), base_url=f"https://{A}") as (_app, client):
        driver = Driver(client)
        page, login = await _consent_page(driver)
        final = await driver.answer_consent(page, "approve", scopes=["notes:read", "admin:all"])
        tokens = (await driver.exchange(query_of(final.headers["location"])["code"], login)).json()
    assert tokens["scope"] == "notes:read"


async def test_disable_consent_screen_keeps_the_approval_but_not_the_picker() -> None:
    """disableConsentScreen: the requested scopes are granted, the user still approves."""
    async with running(config(disableConsentScreen=True), base_url=f"https://{A}") as (_, client):
        driver = Driver(client)
        page, login = await _consent_page(driver, scope="notes:write")
        assert "Allow" in page.text and ticked_scopes(page.text) == []
        final = await driver.answer_consent(page, "approve", scopes=[])
        tokens = (await driver.exchange(query_of(final.headers["location"])["code"], login)).json()
    assert tokens["scope"] == "notes:write"


async def test_narrowed_approval_asks_again_for_the_unticked_scope() -> None:
    """The same request after a narrowed approval shows the page again, requested ones ticked."""
    async with running(config(), base_url=f"https://{A}") as (_app, client):
        driver = Driver(client)
        registered = await driver.register()
        response, login = await driver.authorize(
            registered["client_id"], scope="notes:read notes:write"
        )
        page = await driver.sign_in(response)
        await driver.answer_consent(page, "approve", scopes=["notes:read"])
        # E.g. the client's step-up after 403 insufficient_scope: the same scopes again.
        response, login = await driver.authorize(
            registered["client_id"], scope="notes:read notes:write"
        )
        again = await driver.sign_in(response)
        assert again.status_code == 200
        assert ticked_scopes(again.text) == ["notes:read", "notes:write"]
        final = await driver.answer_consent(again, "approve")
        tokens = (await driver.exchange(query_of(final.headers["location"])["code"], login)).json()
    assert tokens["scope"] == "notes:read notes:write"
