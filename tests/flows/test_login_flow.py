"""The whole login in process with the demo provider: register, authorize, sign in, approve,
exchange, use at /authenticate, refresh, revoke; and every way each step can be abused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from tests.flows.driver import REDIRECT_URI, Driver, hidden_inputs, query_of
from tests.support import FakeClock, make_config, running

A = "a.example.test"


class World:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.app, self.client, self.clock = app, client, clock
        self.driver = Driver(client)

    async def login(self, **register: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        client = await self.driver.register(**register)
        code, login = await self.driver.code_for(client["client_id"])
        response = await self.driver.exchange(code, login)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return client, tokens

    async def gate(self, token: str, host: str = A) -> int:
        response = await self.client.get(
            "/authenticate", headers={"host": host, "authorization": f"Bearer {token}"}
        )
        return response.status_code


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    async with running(make_config(), clock, base_url=f"https://{A}") as (app, client):
        yield World(app, client, clock)


async def test_full_login_yields_tokens_that_open_the_gate(world: World) -> None:
    """Register → authorize → demo sign-in → approve → code → tokens accepted by /authenticate."""
    _client, tokens = await world.login()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"] == "read" and tokens["refresh_token"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://a.example.test/mcp" and claims["sub"] == "demo"
    assert claims["email"] == "demo@example.com" and claims["groups"] == ["demo"]
    assert await world.gate(tokens["access_token"]) == 200
    assert await world.gate(tokens["access_token"], host="b.example.test") == 401


async def test_code_redirect_carries_state_and_issuer(world: World) -> None:
    """RFC 9207: the redirect names the issuer; the client's own query is kept."""
    client = await world.driver.register(redirect_uris=["http://127.0.0.1:3030/callback?x=1"])
    response, login = await world.driver.authorize(
        client["client_id"], redirect_uri="http://127.0.0.1:3030/callback?x=1"
    )
    page = await world.driver.sign_in(response)
    final = await world.driver.answer_consent(page, "approve")
    query = query_of(final.headers["location"])
    assert query["x"] == "1" and query["state"] == login.state
    assert query["iss"] == "https://a.example.test"


async def test_consent_is_remembered_for_the_same_request(world: World) -> None:
    """A second login of the same client and scopes skips the page; other scopes do not."""
    client = await world.driver.register()
    await world.driver.code_for(client["client_id"])
    response, _ = await world.driver.authorize(client["client_id"])
    again = await world.driver.sign_in(response)
    assert again.status_code == 303 and "code=" in again.headers["location"]
    response, _ = await world.driver.authorize(client["client_id"], scope="")
    assert (await world.driver.sign_in(response)).status_code == 303


async def test_denying_consent_redirects_with_access_denied(world: World) -> None:
    """Deny sends the client access_denied, and no code exists."""
    client = await world.driver.register()
    response, login = await world.driver.authorize(client["client_id"])
    page = await world.driver.sign_in(response)
    final = await world.driver.answer_consent(page, "deny")
    query = query_of(final.headers["location"])
    assert query["error"] == "access_denied" and query["state"] == login.state
    assert "code" not in query


async def test_consent_page_is_protected(world: World) -> None:
    """No framing, no caching, CSRF token required, answered once."""
    client = await world.driver.register(client_name="<script>alert(1)</script>")
    response, _ = await world.driver.authorize(client["client_id"])
    page = await world.driver.sign_in(response)
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    form = hidden_inputs(page.text)
    forged = await world.client.post("/consent", data={**form, "csrf": "x", "decision": "approve"})
    assert forged.status_code == 400
    ok = await world.driver.answer_consent(page, "approve")
    assert ok.status_code == 303
    replay = await world.driver.answer_consent(page, "approve")
    assert replay.status_code == 400


async def test_callback_from_another_browser_is_refused(world: World) -> None:
    """The IdP's state alone is not enough: the starting browser's cookie must come with it."""
    client = await world.driver.register()
    response, _ = await world.driver.authorize(client["client_id"])
    page = await world.driver.follow(response)
    form = hidden_inputs(page.text)
    world.client.cookies.clear()
    callback = await world.client.get("/callback", params=form)
    assert callback.status_code == 400 and "another browser" in callback.text


async def test_code_is_single_use_and_replay_revokes_its_tokens(world: World) -> None:
    """Using a code twice fails and kills the access and refresh token it produced."""
    client = await world.driver.register()
    code, login = await world.driver.code_for(client["client_id"])
    tokens = (await world.driver.exchange(code, login)).json()
    replay = await world.driver.exchange(code, login)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert await world.gate(tokens["access_token"]) == 401
    refresh = await world.driver.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client["client_id"],
        }
    )
    assert refresh.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_verifier": "x" * 43}, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:3030/other"}, "invalid_grant"),
        ({"resource": "https://b.example.test/mcp"}, "invalid_target"),
        ({"client_id": "someone-else"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"code": "made-up"}, "invalid_grant"),
    ],
    ids=[
        "wrong-verifier",
        "wrong-redirect",
        "wrong-resource",
        "wrong-client",
        "bad-grant",
        "unknown-code",
    ],
)
async def test_token_request_must_match_the_authorization(
    world: World, change: dict[str, str], error: str
) -> None:
    """Each mismatch gets its RFC error code, JSON, no-store, never a 422 or 500."""
    client = await world.driver.register()
    code, login = await world.driver.code_for(client["client_id"])
    response = await world.driver.exchange(code, login, change)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


async def test_a_login_refreshing_in_a_loop_is_slowed_down(world: World) -> None:
    """Ten refreshes in a row pass; the eleventh gets 429 slow_down with Retry-After (each
    refresh adds a token every process may have to remember), and after the wait it passes."""
    client, tokens = await world.login()
    form = {"grant_type": "refresh_token", "client_id": client["client_id"]}
    refresh = tokens["refresh_token"]
    for _ in range(10):
        response = await world.driver.token({**form, "refresh_token": refresh})
        assert response.status_code == 200, response.text
        refresh = response.json()["refresh_token"]
    slowed = await world.driver.token({**form, "refresh_token": refresh})
    assert slowed.status_code == 429 and slowed.json()["error"] == "slow_down"
    world.clock.advance(int(slowed.headers["retry-after"]))
    again = await world.driver.token({**form, "refresh_token": refresh})
    assert again.status_code == 200, again.text


async def test_refresh_rotates_and_reuse_revokes_the_family(world: World) -> None:
    """Each refresh returns a new refresh token; replaying an old one ends the whole grant."""
    client, tokens = await world.login()
    form = {"grant_type": "refresh_token", "client_id": client["client_id"]}
    first = await world.driver.token({**form, "refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert await world.gate(rotated["access_token"]) == 200
    reuse = await world.driver.token({**form, "refresh_token": tokens["refresh_token"]})
    assert reuse.json()["error"] == "invalid_grant"
    assert await world.gate(rotated["access_token"]) == 401
    after = await world.driver.token({**form, "refresh_token": rotated["refresh_token"]})
    assert after.json()["error"] == "invalid_grant"


async def test_refresh_may_only_narrow_scope_and_keeps_resource(world: World) -> None:
    """scope can shrink, never grow; resource must stay the same."""
    client, tokens = await world.login()
    form = {"grant_type": "refresh_token", "client_id": client["client_id"]}
    wider = await world.driver.token(
        {**form, "refresh_token": tokens["refresh_token"], "scope": "read write"}
    )
    assert wider.json()["error"] == "invalid_scope"
    other = await world.driver.token(
        {**form, "refresh_token": tokens["refresh_token"], "resource": "https://b.example.test/mcp"}
    )
    assert other.json()["error"] == "invalid_target"


async def test_session_ends_after_max_age(world: World) -> None:
    """After maxSessionAge a refresh fails and the user signs in again."""
    client, tokens = await world.login()
    world.clock.advance(31 * 86400)
    response = await world.driver.token(
        {
            "grant_type": "refresh_token",
            "client_id": client["client_id"],
            "refresh_token": tokens["refresh_token"],
        }
    )
    assert response.json()["error"] == "invalid_grant"


async def test_revoking_the_refresh_token_ends_access(world: World) -> None:
    """RFC 7009: revoke answers 200 and the access token stops working at once."""
    client, tokens = await world.login()
    response = await world.client.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": client["client_id"]}
    )
    assert response.status_code == 200
    assert await world.gate(tokens["access_token"]) == 401


async def test_revoking_an_access_token(world: World) -> None:
    """An access token can be revoked on its own; garbage revokes nothing and still gets 200."""
    client, tokens = await world.login()
    garbage = await world.client.post(
        "/revoke", data={"token": "nope", "client_id": client["client_id"]}
    )
    assert garbage.status_code == 200
    assert await world.gate(tokens["access_token"]) == 200
    await world.client.post(
        "/revoke",
        data={
            "token": tokens["access_token"],
            "token_type_hint": "access_token",
            "client_id": client["client_id"],
        },
    )
    assert await world.gate(tokens["access_token"]) == 401


async def test_confidential_client_authenticates_with_its_secret(world: World) -> None:
    """client_secret_basic clients must present the secret at /token."""
    client = await world.driver.register(token_endpoint_auth_method="client_secret_basic")
    assert client["client_secret"]
    code, login = await world.driver.code_for(client["client_id"])
    unauthenticated = await world.driver.exchange(code, login)
    assert unauthenticated.status_code == 401
    code, login = await world.driver.code_for(client["client_id"])
    authed = await world.driver.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": login.verifier,
        },
    )
    assert authed.status_code == 401
    basic = httpx.BasicAuth(client["client_id"], client["client_secret"])
    request = world.client.build_request(
        "POST",
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": login.verifier,
        },
    )
    response = await world.client.send(basic.sync_auth_flow(request).__next__())
    assert response.status_code == 200, response.text
