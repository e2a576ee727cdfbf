"""Per-user upstream credentials under attack, in process, against a real token endpoint on
loopback: an administrator's revoke stops a connection under way, a machine's or workload's
token never gets the user's credential whose ``sub`` it shares, ``/connected-accounts`` manages
only the host it is called on, a failing upstream is not asked again on every request, and an
absurd ``expires_in`` neither breaks a connection nor makes a credential that never goes stale.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.config.loader import ConfigError, load_config
from mcp_gatekeeper.forward_auth.credentials import CredentialMiss, UpstreamAnswers
from mcp_gatekeeper.forward_auth.responses import make_answer
from mcp_gatekeeper.oauth.records import ConnectedAccount, ProviderGrant
from mcp_gatekeeper.ops.metrics import Metrics
from mcp_gatekeeper.tokens import AccessClaims, Identity
from mcp_gatekeeper.upstream.cache import CredentialCache
from mcp_gatekeeper.upstream.connected import account_key
from mcp_gatekeeper.upstream.fetcher import CredentialFetcher
from tests.flows.driver import Driver, query_of
from tests.support import FakeClock, config_dict, mint, running, state_of

from .token_endpoint import TokenEndpoint, run_token_endpoint

A, B = "a.example.test", "b.example.test"
ADMIN_TOKEN = "admin-token-for-safeguard-tests-0123"
API_AUTHORIZE = "https://api.example.test/authorize"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture
def api() -> Iterator[TokenEndpoint]:
    with run_token_endpoint() as endpoint:
        yield endpoint


def _config(api: TokenEndpoint, **grants: Any) -> Config:
    raw = config_dict()
    upstream = {
        "source": "connected",
        "name": "FakeAPI",
        "connected": {"authorizeURL": API_AUTHORIZE, "tokenURL": api.url, "clientID": "gk"},
    }
    for host in raw["proxy"]["hosts"]:
        host["upstream"] = upstream
    raw["server"] = {"adminToken": ADMIN_TOKEN}
    raw["store"] = {"encryptionKey": Fernet.generate_key().decode()}
    if grants:
        raw["grants"] = grants
    return Config.model_validate(raw)


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    api: TokenEndpoint

    async def seed(self, subject: str, host: str = A, **fields: Any) -> None:
        now = self.clock()
        account = ConnectedAccount(
            subject=subject,
            email=f"{subject}@example.test",
            host=host,
            access_token=f"token-of-{subject}-at-{host}",
            connected_at=now,
            updated_at=now,
            expires_at=now + 3600,
        ).model_copy(update=fields)
        await state_of(self.app).records.connected_accounts.put(
            account_key(host, subject), account, 86400
        )

    async def authenticate(self, token: str, host: str = A) -> httpx.Response:
        headers = {"host": host, "authorization": f"Bearer {token}"}
        return await self.client.get("/authenticate/mcp", headers=headers)

    async def connection_started(self) -> tuple[Driver, Any, str]:
        """A login past consent, its browser on the way to the API: the ``state`` it carries."""
        driver = Driver(self.client, A)
        client_id = (await driver.register())["client_id"]
        response, login = await driver.authorize(client_id, scope="read")
        page = await driver.answer_consent(await driver.sign_in(response), "approve")
        location = page.headers["location"]
        assert location.startswith(API_AUTHORIZE), location
        return driver, login, query_of(location)["state"]


@pytest.fixture
async def world(api: TokenEndpoint) -> AsyncIterator[World]:
    clock = FakeClock(time.time())
    async with running(_config(api), clock, base_url=f"https://{A}") as (app, client):
        yield World(app, client, clock, api)


# --- admin users revoke ---------------------------------------------------------------------


async def test_revoking_the_user_mid_connection_issues_no_code(world: World) -> None:
    _driver, _login, state = await world.connection_started()
    admin = {"host": A, "authorization": f"Bearer {ADMIN_TOKEN}"}
    revoked = await world.client.post("/admin/users/demo/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    # The browser comes back from the API: no code for the MCP client, nothing connected.
    back = await world.client.get(
        "/callback", params={"state": state, "code": "api-code"}, headers={"host": A}
    )
    assert back.status_code == 400 and "location" not in back.headers
    assert world.api.calls == []
    assert await state_of(world.app).records.connected_accounts.scan() == []


async def test_a_connection_completes_once(world: World) -> None:
    driver, login, state = await world.connection_started()
    params = {"state": state, "code": "api-code"}
    first = await world.client.get("/callback", params=params, headers={"host": A})
    assert first.status_code == 303, first.text
    assert (await driver.exchange(query_of(first.headers["location"])["code"], login)).is_success
    again = await world.client.get("/callback", params=params, headers={"host": A})
    assert again.status_code == 400 and "location" not in again.headers
    assert len(world.api.calls) == 1


async def test_revoking_the_user_forgets_their_provider_secret(world: World) -> None:
    grants = state_of(world.app).records.provider_grants
    secret = ProviderGrant(subject="alice", secret="provider-refresh", updated_at=world.clock())
    await grants.put("alice", secret, 3600)
    await grants.put("bob", secret.model_copy(update={"subject": "bob"}), 3600)
    admin = {"host": A, "authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (await world.client.post("/admin/users/alice/revoke", headers=admin)).is_success
    assert await grants.get("alice") is None
    assert await grants.get("bob") is not None


# --- whose token gets the credential ----------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "handed_over"),
    [
        ({}, True),  # the user's own login (authorization code, refresh, device code)
        ({"gty": JWT_BEARER, "enterprise_iss": "https://idp.example.test"}, True),  # ID-JAG
        ({"gty": "token-exchange", "act": {"sub": "agent"}}, True),  # an agent for the user
        ({"gty": "client_credentials"}, False),
        ({"gty": JWT_BEARER, "workload_iss": "https://k8s.example.test"}, False),
        ({"gty": "token-exchange", "act": {"sub": "a"}, "sub_gty": "client_credentials"}, False),
        ({"gty": "some-grant-added-later"}, False),
    ],
)
async def test_only_a_users_login_gets_their_credential(
    world: World, claims: dict[str, Any], handed_over: bool
) -> None:
    await world.seed("alice")
    answer = await world.authenticate(mint(world.app, A, subject="alice", extra_claims=claims))
    if handed_over:
        assert answer.status_code == 200, answer.text
        assert answer.headers["authorization"] == f"Bearer token-of-alice-at-{A}"
    else:
        assert answer.status_code == 403 and "FakeAPI" in answer.text
        assert "authorization" not in answer.headers


async def test_a_delegated_workload_token_stays_a_workloads(api: TokenEndpoint) -> None:
    """An agent exchanging a workload's token (``sub`` equal to a user's) gets a token that is
    still no user's: ``sub_gty`` carries the grant through the exchange."""
    config = _config(api, tokenExchange={"enabled": True})
    clock = FakeClock(time.time())
    async with running(config, clock, base_url=f"https://{A}") as (app, client):
        world = World(app, client, clock, api)
        await world.seed("alice")
        driver = Driver(client, A)
        agent = await driver.register(token_endpoint_auth_method="client_secret_basic")
        state_of(app).config.grants.token_exchange.actors.append(agent["client_id"])
        workload = {"gty": JWT_BEARER, "workload_iss": "https://k8s.example.test"}
        for claims, status in (({}, 200), (workload, 403)):
            form = {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": mint(app, A, subject="alice", extra_claims=claims),
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            }
            basic = httpx.BasicAuth(agent["client_id"], agent["client_secret"])
            exchanged = await client.post(f"https://{A}/token", data=form, auth=basic)
            assert exchanged.status_code == 200, exchanged.text
            answer = await world.authenticate(exchanged.json()["access_token"])
            assert answer.status_code == status, answer.text


# --- /connected-accounts manages this host's account only ------------------------------------


async def test_connected_accounts_take_only_this_hosts_tokens(world: World) -> None:
    await world.seed("alice", A)
    await world.seed("alice", B)
    records = state_of(world.app).records.connected_accounts
    for_b = {"host": A, "authorization": f"Bearer {mint(world.app, B, subject='alice')}"}
    assert (await world.client.get("/connected-accounts", headers=for_b)).status_code == 401
    refused = await world.client.post("/connected-accounts", data={"host": A}, headers=for_b)
    assert refused.status_code == 401
    for_a = {"host": A, "authorization": f"Bearer {mint(world.app, A, subject='alice')}"}
    listed = await world.client.get("/connected-accounts", headers=for_a)
    assert [account["host"] for account in listed.json()["accounts"]] == [A]
    # No host named, or another: nothing is disconnected.
    for form in ({}, {"host": B}, {"host": ""}):
        answer = await world.client.post("/connected-accounts", data=form, headers=for_a)
        assert answer.status_code == 400, (form, answer.text)
    assert len(await records.scan()) == 2
    done = await world.client.post("/connected-accounts", data={"host": A}, headers=for_a)
    assert done.json() == {"disconnected": 1}
    assert [account.host for _key, account, _raw in await records.scan()] == [B]


# --- a failing upstream is not asked on every request -----------------------------------------


async def test_a_failed_refresh_is_retried_with_backoff(world: World) -> None:
    world.api.status = 503
    # Within refreshBefore (60 s) of its expiry: every request needs a refresh.
    await world.seed("alice", refresh_token="r0", expires_at=world.clock() + 10)
    token = mint(world.app, A, subject="alice")

    async def burst() -> set[int]:
        return {(await world.authenticate(token)).status_code for _ in range(5)}

    assert await burst() == {403}
    assert len(world.api.calls) == 1
    world.clock.advance(5)
    assert await burst() == {403}
    assert len(world.api.calls) == 2  # then 10 s before the next try
    world.clock.advance(9)
    assert await burst() == {403}
    assert len(world.api.calls) == 2
    world.api.status = 200
    world.clock.advance(1)
    answer = await world.authenticate(token)
    assert answer.status_code == 200 and answer.headers["authorization"] == "Bearer api-token"
    assert len(world.api.calls) == 3


# --- expires_in -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expires_in", ["1e999", "Infinity", "NaN", str(10**400), "-5", "true", "63072000"]
)
async def test_an_unusable_expires_in_counts_as_none(world: World, expires_in: str) -> None:
    world.api.body = f'{{"access_token": "api-token", "expires_in": {expires_in}}}'.encode()
    driver, login, state = await world.connection_started()
    back = await world.client.get(
        "/callback", params={"state": state, "code": "c"}, headers={"host": A}
    )
    assert back.status_code == 303, back.text
    assert (await driver.exchange(query_of(back.headers["location"])["code"], login)).is_success
    ((_key, account, _raw),) = await state_of(world.app).records.connected_accounts.scan()
    assert account.expires_at is None
    # Served as a token that stated no expiry: a credential that goes stale and is read again.
    token = mint(world.app, A, subject="demo")
    assert (await world.authenticate(token)).status_code == 200
    await state_of(world.app).records.connected_accounts.put(
        account_key(A, "demo"), account.model_copy(update={"access_token": "replaced"}), 3600
    )
    world.clock.advance(61)
    assert (await world.authenticate(token)).headers["authorization"] == "Bearer replaced"


# --- joined answers go with their credentials -------------------------------------------------


async def test_joined_answers_are_bounded_by_the_cache(world: World) -> None:
    services = state_of(world.app)
    fetcher = CredentialFetcher(
        services.records.provider_grants,
        services.records.connected_accounts,
        services.provider,
        services.http,
        world.clock,
        3600,
    )
    answers = UpstreamAnswers(
        fetcher, CredentialCache(world.clock, max_entries=2), Metrics(), lambda *a, **k: None
    )
    host = services.hosts.get(A)
    assert host is not None
    users = [f"user-{n}" for n in range(4)]
    for user in users:
        await world.seed(user)
        claims = AccessClaims(
            issuer=host.issuer,
            audience=host.resource,
            identity=Identity(user),
            scopes=("read",),
            client_id="c",
            jti=user,
            expires_at=world.clock() + 60,
        )
        miss = answers.answer(host, claims, make_answer(200, ()), mcp_client=False)
        assert isinstance(miss, CredentialMiss)
        answer = await answers.complete(miss)
        assert (b"authorization", f"Bearer token-of-{user}-at-{A}".encode()) in answer.headers
    # Only what the cache still holds keeps its credential bytes in a joined answer.
    assert len(answers.cache) == 2
    assert sorted(answers._joined) == [(A, "user-2"), (A, "user-3")]
    answers.cache.forget_subject("user-3")
    assert sorted(answers._joined) == [(A, "user-2")]


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "field"),
    [("connected", "authorizeURL"), ("connected", "tokenURL"), ("tokenExchange", "tokenEndpoint")],
)
def test_upstream_urls_must_be_https_off_loopback(tmp_path: Path, where: str, field: str) -> None:
    def problems(url: str) -> list[str]:
        if where == "connected":
            section = {"authorizeURL": API_AUTHORIZE, "tokenURL": "https://api.example.test/t"}
            upstream = {"source": "connected", where: {**section, "clientID": "gk", field: url}}
        else:
            upstream = {"source": "tokenExchange", where: {field: url, "audience": "api"}}
        raw = {
            "provider": {"name": "github", "clientID": "id", "clientSecret": "secret"},
            "proxy": {"hosts": [{"host": A, "upstream": {"name": "API", **upstream}}]},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(raw))
        try:
            load_config(path, environ={})
        except ConfigError as exc:
            return [str(problem) for problem in exc.problems]
        return []

    (problem,) = problems("http://api.example.test/oauth")
    assert problem.startswith(f"proxy.hosts[0].upstream.{where}.{field}: "), problem
    assert "https://" in problem
    assert problems("http://127.0.0.1:8080/oauth") == []
    assert problems("https://api.example.test/oauth") == []
