"""``upstream.source: connected`` in process, against two real npm OpenID providers: users sign
in with one, and connect their account at the other (the upstream API's authorization server:
an authorization-code client with PKCE) once, after consent; the real API, which accepts only
that second provider's tokens, then names each user. The account is refreshed before it
expires, and disconnected by the user (``/connected-accounts``) or by ``admin users revoke``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from tests.flows.driver import Driver, query_of
from tests.providers.oidc_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    OidcServer,
    browse_to_callback,
    run_oidc_server,
)
from tests.support import FakeClock, running

from .whoami_api import run_whoami_api

HOST = "mcp.example.test"  # both providers' registered callback is on this host
ADMIN_TOKEN = "admin-token-for-connected-accounts-tests"


@dataclass(frozen=True)
class Providers:
    login: OidcServer
    api_server: OidcServer
    api: str


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Providers]:
    with (
        run_oidc_server(tmp_path_factory.mktemp("login-idp")) as login,
        run_oidc_server(
            tmp_path_factory.mktemp("api-as"), extra_env={"UPSTREAM_EXCHANGE": "1"}
        ) as api_server,
        run_whoami_api(api_server.issuer) as api,
    ):
        yield Providers(login, api_server, api)


def _config(providers: Providers) -> Config:
    discovery = httpx.get(f"{providers.api_server.issuer}/.well-known/openid-configuration").json()
    connected = {
        "authorizeURL": discovery["authorization_endpoint"],
        "tokenURL": discovery["token_endpoint"],
        "clientID": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    }
    return Config.model_validate(
        {
            "provider": providers.login.config().model_dump(by_alias=True, mode="json")
            | {"clientSecret": CLIENT_SECRET},
            "proxy": {
                "hosts": [
                    {
                        "host": HOST,
                        "scopes": [{"name": "read", "tools": ["get"]}],
                        "upstream": {
                            "source": "connected",
                            "name": "Whoami API",
                            "scopes": ["openid", "offline_access"],
                            "connected": connected,
                        },
                    }
                ]
            },
            "server": {"adminToken": ADMIN_TOKEN},
            "store": {"encryptionKey": Fernet.generate_key().decode()},
        }
    )


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    providers: Providers
    #: The API authorization server's /auth visits: one per account connected.
    connects: list[str]

    async def sign_in(self, user: str) -> str:
        """Login, consent, the account connection if due, and the client's code exchange."""
        driver = Driver(self.client, HOST)
        client_id = (await driver.register())["client_id"]
        response, login = await driver.authorize(client_id, scope="read")
        params = await browse_to_callback(response.headers["location"], login_hint=user)
        page = await driver.follow(
            await self.client.get("/callback", params=params, headers={"host": HOST})
        )
        if page.status_code == 200:
            assert "Whoami API" in page.text  # consent names the API the server acts with
            page = await driver.answer_consent(page, "approve")
        location = page.headers["location"]
        if location.startswith(self.providers.api_server.issuer):
            self.connects.append(location)
            query = dict(parse_qsl(urlsplit(location).query))
            assert query["code_challenge_method"] == "S256" and query["code_challenge"]
            params = await browse_to_callback(location, login_hint=user)
            page = await self.client.get("/callback", params=params, headers={"host": HOST})
            location = page.headers["location"]
        assert page.status_code == 303, page.text
        tokens = await driver.exchange(query_of(location)["code"], login)
        assert tokens.status_code == 200, tokens.text
        token: str = tokens.json()["access_token"]
        return token

    async def authenticate(self, token: str) -> httpx.Response:
        headers = {"host": HOST, "authorization": f"Bearer {token}"}
        return await self.client.get("/authenticate/mcp", headers=headers)

    async def whoami(self, credential: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(
                f"{self.providers.api}/whoami", headers={"authorization": credential}
            )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
async def stack(providers: Providers) -> AsyncIterator[Stack]:
    clock = FakeClock(time.time())  # the providers' tokens are checked against the real time
    async with running(_config(providers), clock, base_url=f"https://{HOST}") as (app, client):
        yield Stack(app, client, clock, providers, [])


async def test_each_user_connects_once_and_reaches_the_api_as_themselves(stack: Stack) -> None:
    for user in ("conn-ann", "conn-bob"):
        token = await stack.sign_in(user)
        answer = await stack.authenticate(token)
        assert answer.status_code == 200, answer.text
        assert (await stack.whoami(answer.headers["authorization"]))["sub"] == user
    assert len(stack.connects) == 2
    # Signing in again (a second client, the same user): the account is connected already.
    again = await stack.sign_in("conn-ann")
    assert len(stack.connects) == 2
    assert (await stack.authenticate(again)).status_code == 200
    records = stack.app.state.services.records.connected_accounts
    ((_key, account, raw),) = [a for a in await records.scan() if a[1].subject == "conn-ann"]
    # The tokens are sealed at rest.
    assert account.refresh_token and account.refresh_token.encode() not in raw


async def test_an_expiring_account_is_refreshed_before_it_is_handed_out(stack: Stack) -> None:
    token = await stack.sign_in("conn-cat")
    first = (await stack.authenticate(token)).headers["authorization"]
    records = stack.app.state.services.records.connected_accounts
    ((_key, account, _raw),) = [a for a in await records.scan() if a[1].subject == "conn-cat"]
    assert account.expires_at is not None
    # Past the cache and within refreshBefore of the upstream expiry: refreshed, not stale.
    stack.clock.advance(account.expires_at - stack.clock() - 30)
    answer = await stack.authenticate(token)
    assert answer.status_code == 200, answer.text
    second = answer.headers["authorization"]
    assert second != first
    assert (await stack.whoami(second))["sub"] == "conn-cat"


async def test_the_user_disconnects_their_account(stack: Stack) -> None:
    token = await stack.sign_in("conn-dan")
    assert (await stack.authenticate(token)).status_code == 200
    headers = {"host": HOST, "authorization": f"Bearer {token}"}
    listed = await stack.client.get("/connected-accounts", headers=headers)
    assert listed.status_code == 200
    assert [(a["host"], a["api"]) for a in listed.json()["accounts"]] == [(HOST, "Whoami API")]
    # Without one of the user's tokens nothing is listed or disconnected (no cookie is read).
    assert (
        await stack.client.get("/connected-accounts", headers={"host": HOST})
    ).status_code == 401
    forged = {"host": HOST, "authorization": "Bearer forged"}
    assert (await stack.client.post("/connected-accounts", headers=forged)).status_code == 401
    done = await stack.client.post("/connected-accounts", data={"host": HOST}, headers=headers)
    assert done.status_code == 200 and done.json() == {"disconnected": 1}
    refused = await stack.authenticate(token)
    assert refused.status_code == 403
    assert "Whoami API" in refused.text and HOST in refused.text
    assert "authorization" not in refused.headers
    # Signing in again connects the account again.
    token = await stack.sign_in("conn-dan")
    assert len(stack.connects) == 2
    assert (await stack.authenticate(token)).status_code == 200


async def test_admin_users_revoke_disconnects_the_accounts(stack: Stack) -> None:
    await stack.sign_in("conn-eve")
    await stack.sign_in("conn-fay")
    admin = {"host": HOST, "authorization": f"Bearer {ADMIN_TOKEN}"}
    revoked = await stack.client.post("/admin/users/conn-eve@example.test/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["accounts_disconnected"] == 1
    records = stack.app.state.services.records.connected_accounts
    assert [account.subject for _k, account, _r in await records.scan()] == ["conn-fay"]


async def test_a_declined_connection_issues_no_code(stack: Stack) -> None:
    driver = Driver(stack.client, HOST)
    client_id = (await driver.register())["client_id"]
    response, _login = await driver.authorize(client_id, scope="read")
    params = await browse_to_callback(response.headers["location"], login_hint="conn-gus")
    page = await driver.follow(
        await stack.client.get("/callback", params=params, headers={"host": HOST})
    )
    page = await driver.answer_consent(page, "approve")
    state = query_of(page.headers["location"])["state"]
    # Another browser (no login cookie) cannot bring the state back, nor burn it.
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url=f"https://{HOST}") as stranger:
        replay = await stranger.get("/callback", params={"code": "x", "state": state})
    assert replay.status_code == 400 and "another browser" in replay.text
    # The user declines at the API: a page says so, and no code goes to the client.
    declined = {"error": "access_denied", "state": state}
    answer = await stack.client.get("/callback", params=declined, headers={"host": HOST})
    assert answer.status_code == 400 and "Whoami API" in answer.text
    assert "location" not in answer.headers
    assert await stack.app.state.services.records.connected_accounts.scan() == []
