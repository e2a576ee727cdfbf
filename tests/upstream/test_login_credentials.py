"""``proxy.hosts[].upstream`` end to end in process, against the real npm OpenID provider: users
sign in through it, and /authenticate hands over each one's own provider token (``login``) or
that token exchanged for the API's audience (``tokenExchange``, RFC 8693), which a real API
accepts and names its owner; a cached credential is answered without I/O."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
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

from .token_endpoint import run_token_endpoint
from .whoami_api import run_whoami_api

LOGIN_HOST = "mcp.example.test"  # the provider's registered callback is on this host
API_AUDIENCE = "https://api.example.test"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OidcServer, str]]:
    env = {"UPSTREAM_EXCHANGE": "1"}
    with run_oidc_server(tmp_path_factory.mktemp("oidc"), extra_env=env) as server:
        with run_whoami_api(server.issuer) as api:
            yield server, api


def _config(issuer: str, upstream: dict[str, Any]) -> Config:
    return Config.model_validate(
        {
            "provider": {
                "name": "oidc",
                "clientID": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
                "issuerURL": issuer,
            },
            "proxy": {
                "hosts": [
                    {
                        "host": LOGIN_HOST,
                        "scopes": [{"name": "read", "description": "Read", "tools": ["get"]}],
                        "upstream": upstream,
                    }
                ]
            },
        }
    )


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    api: str

    async def sign_in(self, user: str) -> str:
        """A browser login through the real provider, then the MCP client's code exchange."""
        driver = Driver(self.client, LOGIN_HOST)
        client_id = (await driver.register())["client_id"]
        response, login = await driver.authorize(client_id, scope="read")
        assert response.status_code in (302, 303), response.text
        params = await browse_to_callback(response.headers["location"], login_hint=user)
        page = await self.client.get("/callback", params=params, headers={"host": LOGIN_HOST})
        page = await driver.follow(page)
        if page.status_code == 200:
            assert "acts with your" in page.text  # the consent page names the upstream API
            page = await driver.answer_consent(page, "approve")
        assert page.status_code == 303, page.text
        code = query_of(page.headers["location"])["code"]
        tokens = await driver.exchange(code, login)
        assert tokens.status_code == 200, tokens.text
        token: str = tokens.json()["access_token"]
        return token

    async def authenticate(self, token: str) -> httpx.Response:
        headers = {"host": LOGIN_HOST, "authorization": f"Bearer {token}"}
        return await self.client.get("/authenticate/mcp", headers=headers)

    async def whoami(self, authorization: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.get(f"{self.api}/whoami", headers={"authorization": authorization})


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest, upstream: tuple[OidcServer, str]
) -> AsyncIterator[Stack]:
    server, api = upstream
    # https: the login cookie that binds the browser is Secure.
    config = _config(server.issuer, request.param)
    # The provider's ID tokens are checked against the real time.
    clock = FakeClock(time.time())
    async with running(config, clock, base_url=f"https://{LOGIN_HOST}") as (app, client):
        yield Stack(app, client, api)


LOGIN = {"source": "login", "name": "Test IdP"}
EXCHANGE = {
    "source": "tokenExchange",
    "name": "Whoami API",
    "scopes": ["whoami:read"],
    "tokenExchange": {"audience": API_AUDIENCE},
}


@pytest.mark.parametrize("stack", [LOGIN, EXCHANGE], indirect=True, ids=["login", "exchange"])
async def test_each_user_reaches_the_api_as_themselves(stack: Stack) -> None:
    seen = {}
    for user in ("upstream-ann", "upstream-bob"):
        token = await stack.sign_in(user)
        answer = await stack.authenticate(token)
        assert answer.status_code == 200, answer.text
        credential = answer.headers["authorization"]
        # The gateway overwrites Authorization with this: the client's token goes no further.
        assert token not in credential and credential.startswith("Bearer ")
        api = await stack.whoami(credential)
        assert api.status_code == 200, api.text
        seen[user] = api.json()
    assert seen["upstream-ann"]["sub"] == "upstream-ann"
    assert seen["upstream-bob"]["sub"] == "upstream-bob"
    if stack.app.state.services.config.proxy.hosts[0].upstream.source == "tokenExchange":
        assert seen["upstream-ann"]["aud"] == API_AUDIENCE


@pytest.mark.parametrize("stack", [LOGIN], indirect=True)
async def test_a_cached_credential_is_answered_while_parsing(stack: Stack) -> None:
    token = await stack.sign_in("upstream-cat")
    headers = [(b"host", LOGIN_HOST.encode()), (b"authorization", f"Bearer {token}".encode())]
    immediate = stack.app.immediate  # type: ignore[attr-defined]
    # Not cached yet: the HTTP protocol must hand the request to the async route.
    assert immediate.answer_now("GET", "/authenticate/mcp", headers, b"") is None
    first = await stack.authenticate(token)
    assert first.status_code == 200
    # Cached: answered synchronously (no await, so no I/O), with the same credential.
    answer = immediate.answer_now("GET", "/authenticate/mcp", headers, b"")
    assert answer is not None and answer.status == 200
    assert dict(answer.headers)[b"authorization"].decode() == first.headers["authorization"]


@pytest.mark.parametrize("stack", [LOGIN], indirect=True)
async def test_concurrent_first_requests_share_one_credential(stack: Stack) -> None:
    token = await stack.sign_in("upstream-dan")
    answers = await asyncio.gather(*(stack.authenticate(token) for _ in range(8)))
    # The provider rotates refresh tokens on every use: eight refreshes would have been seven
    # reuses, each revoking the grant; one fetch gives every request the same credential.
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.headers["authorization"] for answer in answers}) == 1


UNREACHABLE = {
    "source": "tokenExchange",
    "name": "Whoami API",
    "timeout": "2s",
    "tokenExchange": {"audience": API_AUDIENCE, "tokenEndpoint": "http://127.0.0.1:9/token"},
}


@pytest.mark.parametrize("stack", [UNREACHABLE], indirect=True)
async def test_an_unreachable_upstream_is_a_refusal_naming_the_host(stack: Stack) -> None:
    token = await stack.sign_in("upstream-eve")
    answer = await stack.authenticate(token)
    assert answer.status_code == 403
    assert LOGIN_HOST in answer.text and "Whoami API" in answer.text
    assert "authorization" not in answer.headers


def test_the_api_refuses_tokens_of_nobody_it_knows(
    upstream: tuple[OidcServer, str], tmp_path: Path
) -> None:
    _, api = upstream
    assert httpx.get(f"{api}/whoami", headers={"authorization": "Bearer forged"}).status_code == 401


async def test_an_exchanged_token_of_endless_life_still_goes_stale(
    upstream: tuple[OidcServer, str],
) -> None:
    """An ``expires_in`` of Infinity counts as none: the credential is fetched again after
    ``defaultLifetime`` (less ``refreshBefore``), not served for ever."""
    server, api = upstream
    with run_token_endpoint() as endpoint:
        endpoint.body = b'{"access_token": "exchanged", "expires_in": Infinity}'
        exchange = {"audience": API_AUDIENCE, "tokenEndpoint": endpoint.url}
        config = _config(server.issuer, {**EXCHANGE, "tokenExchange": exchange})
        clock = FakeClock(time.time())
        async with running(config, clock, base_url=f"https://{LOGIN_HOST}") as (app, client):
            stack = Stack(app, client, api)
            token = await stack.sign_in("upstream-fay")
            assert (await stack.authenticate(token)).headers["authorization"] == "Bearer exchanged"
            clock.advance(239)
            assert (await stack.authenticate(token)).status_code == 200
            assert len(endpoint.calls) == 1
            clock.advance(2)  # past the default 5 minutes less refreshBefore's 60 s
            assert (await stack.authenticate(token)).status_code == 200
            assert len(endpoint.calls) == 2
