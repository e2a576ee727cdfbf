"""Delegation (RFC 8693 token exchange) in process: an agent swaps a user's token for its own.

The user signs in with the demo provider through a registered MCP client; the agent is a
confidential client named in ``grants.tokenExchange.actors``. What the agent gets is checked where
it matters: at ``/authenticate`` (who the MCP server is told is calling) and at ``/token`` for
every way to ask for more than the user holds.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.tokens import Identity, mint_access_token
from tests.flows.driver import Driver
from tests.support import FakeClock, config_dict, running, state_of

A, B = "a.example.test", "b.example.test"
RESOURCE_A, RESOURCE_B = f"https://{A}/mcp", f"https://{B}/mcp"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"
ADMIN_TOKEN = "admin-token-for-tests-0123456789"


def exchange_config(**token_exchange: Any) -> Config:
    return Config.model_validate(exchange_settings(**token_exchange))


def exchange_settings(**token_exchange: Any) -> dict[str, Any]:
    raw = config_dict(
        hosts=[
            {
                "host": A,
                "scopes": [
                    {"name": "read", "tools": ["get"]},
                    {"name": "write", "tools": ["put"]},
                ],
            },
            {"host": B},
        ]
    )
    raw["grants"] = {"tokenExchange": {"enabled": True, **token_exchange}}
    raw["server"] = {"adminToken": ADMIN_TOKEN}
    return raw


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


@dataclass
class Agent:
    client_id: str
    secret: str

    @property
    def basic(self) -> str:
        raw = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


class Delegation:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.app, self.http, self.clock = app, client, clock
        self.driver = Driver(client)
        self.user_client = ""

    async def user_token(self, scope: str = "read write") -> str:
        """The demo user's access token for A, through a public MCP client."""
        if not self.user_client:
            self.user_client = (await self.driver.register())["client_id"]
        code, login = await self.driver.code_for(self.user_client, scope=scope)
        response = await self.driver.exchange(code, login)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def agent(self, *, listed: bool = True) -> Agent:
        registered = await self.driver.register(
            token_endpoint_auth_method="client_secret_basic", client_name="Agent"
        )
        agent = Agent(registered["client_id"], registered["client_secret"])
        if listed:
            state_of(self.app).config.grants.token_exchange.actors.append(agent.client_id)
        return agent

    async def exchange(self, agent: Agent, subject_token: str, **form: str) -> httpx.Response:
        body = {
            "grant_type": EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS,
            **form,
        }
        return await self.driver.token(body, authorization=agent.basic)

    async def exchanged(self, agent: Agent, subject_token: str, **form: str) -> str:
        response = await self.exchange(agent, subject_token, **form)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def gate(self, token: str, host: str = A) -> httpx.Response:
        headers = {"host": host, "authorization": f"Bearer {token}"}
        return await self.http.get("/authenticate", headers=headers)


@pytest.fixture
async def delegation() -> AsyncIterator[Delegation]:
    clock = FakeClock()
    async with running(exchange_config(), clock, base_url=f"https://{A}") as (app, client):
        yield Delegation(app, client, clock)


async def test_the_agent_acts_for_the_user_and_the_mcp_server_is_told_both(
    delegation: Delegation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_gatekeeper.audit")
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    response = await delegation.exchange(agent, user_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert body["scope"] == "read write" and "refresh_token" not in body
    assert response.headers["cache-control"] == "no-store"
    claims, subject = claims_of(body["access_token"]), claims_of(user_token)
    assert claims["act"] == {"sub": agent.client_id}
    assert claims["gty"] == "token-exchange"
    assert (claims["sub"], claims["email"], claims["groups"]) == (
        subject["sub"],
        subject["email"],
        subject["groups"],
    )
    assert claims["client_id"] == agent.client_id and claims["aud"] == RESOURCE_A
    assert claims["exp"] <= subject["exp"] and body["expires_in"] == claims["exp"] - claims["iat"]
    gate = await delegation.gate(body["access_token"])
    assert gate.status_code == 200
    assert gate.headers["x-auth-request-user"] == "demo"
    assert gate.headers["x-auth-request-actor"] == agent.client_id
    # The user's own token still says nobody acts for them.
    assert (await delegation.gate(user_token)).headers["x-auth-request-actor"] == ""
    (event,) = [vars(r) for r in caplog.records if getattr(r, "event", None) == "token_exchanged"]
    assert (event["sub"], event["actors"], event["host"]) == ("demo", [agent.client_id], RESOURCE_A)
    assert event["scopes"] == ["read", "write"] and event["subject_jti"] == subject["jti"]


async def test_a_refused_tool_call_is_audited_with_the_actor(
    delegation: Delegation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_gatekeeper.audit")
    agent = await delegation.agent()
    delegated = await delegation.exchanged(agent, await delegation.user_token(), scope="read")
    call = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"put"}}'
    headers = {"host": A, "authorization": f"Bearer {delegated}"}
    refused = await delegation.http.post("/authenticate", content=call, headers=headers)
    assert refused.status_code == 403
    (event,) = [vars(r) for r in caplog.records if getattr(r, "event", None) == "request_denied"]
    assert (event["sub"], event["actor"], event["client_id"]) == (
        "demo",
        agent.client_id,
        agent.client_id,
    )


async def test_fewer_scopes_may_be_asked_never_more(delegation: Delegation) -> None:
    user_token = await delegation.user_token(scope="read")
    agent = await delegation.agent()
    widened = await delegation.exchange(agent, user_token, scope="read write")
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_scope"
    full = await delegation.user_token()
    narrowed = await delegation.exchanged(agent, full, scope="read")
    assert claims_of(narrowed)["scope"] == "read"
    # Narrowed for good: exchanging the narrowed token cannot win write back.
    again = await delegation.exchange(agent, narrowed, scope="write")
    assert again.status_code == 400 and again.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("parameter", ["resource", "audience"])
async def test_a_token_for_one_host_never_becomes_one_for_another(
    delegation: Delegation, parameter: str
) -> None:
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    moved = await delegation.exchange(agent, user_token, **{parameter: RESOURCE_B})
    assert moved.status_code == 400 and moved.json()["error"] == "invalid_target"
    elsewhere = await delegation.exchange(agent, user_token, **{parameter: "https://evil.test/mcp"})
    assert elsewhere.json()["error"] == "invalid_target"
    same = await delegation.exchanged(agent, user_token, **{parameter: RESOURCE_A + "/"})
    assert claims_of(same)["aud"] == RESOURCE_A
    assert (await delegation.gate(same, host=B)).status_code == 401


async def test_the_exchanged_token_never_outlives_the_users(delegation: Delegation) -> None:
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    subject_exp = claims_of(user_token)["exp"]
    delegation.clock.now = subject_exp - 120
    late = await delegation.exchanged(agent, user_token)
    assert claims_of(late)["exp"] == subject_exp
    delegation.clock.now = subject_exp + 60  # past exp and the clock skew
    expired = await delegation.exchange(agent, user_token)
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
    assert (await delegation.gate(late)).status_code == 401


async def test_a_revoked_subject_token_is_refused(delegation: Delegation) -> None:
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    revoked = await delegation.http.post(
        "/revoke",
        data={"token": user_token, "client_id": delegation.user_client},
        headers={"host": A},
    )
    assert revoked.status_code == 200
    refused = await delegation.exchange(agent, user_token)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "revoked" in refused.json()["error_description"]


async def test_tokens_not_issued_here_are_refused(delegation: Delegation) -> None:
    """Our claims and our kid, signed by another key; HMAC; garbage; a cut signature."""
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    header = jwt.get_unverified_header(user_token)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = claims_of(user_token)
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers=header)
    hmac = jwt.encode(claims, "s" * 32, algorithm="HS256", headers={"typ": "at+jwt"})
    for token in (forged, hmac, "not-a-token", user_token[:-2]):
        refused = await delegation.exchange(agent, token)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"
    assert (await delegation.exchange(agent, user_token)).status_code == 200


async def test_only_listed_confidential_clients_may_act(delegation: Delegation) -> None:
    user_token = await delegation.user_token()
    stranger = await delegation.agent(listed=False)
    refused = await delegation.exchange(stranger, user_token)
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    # A public client proves nothing about who it is, listed or not.
    public = (await delegation.driver.register())["client_id"]
    state_of(delegation.app).config.grants.token_exchange.actors.append(public)
    form = {
        "grant_type": EXCHANGE,
        "subject_token": user_token,
        "subject_token_type": ACCESS,
        "client_id": public,
    }
    response = await delegation.driver.token(form)
    assert response.json()["error"] == "unauthorized_client"
    wrong_secret = Agent((await delegation.agent()).client_id, "wrong")
    assert (await delegation.exchange(wrong_secret, user_token)).status_code == 401


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"subject_token_type": REFRESH}, "invalid_request"),
        ({"requested_token_type": REFRESH}, "invalid_request"),
        ({"actor_token_type": ACCESS}, "invalid_request"),
        ({"subject_token": ""}, "invalid_request"),
    ],
)
async def test_malformed_requests_are_refused(
    delegation: Delegation, form: dict[str, str], error: str
) -> None:
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    body = {"grant_type": EXCHANGE, "subject_token": user_token, "subject_token_type": ACCESS}
    response = await delegation.driver.token({**body, **form}, authorization=agent.basic)
    assert response.status_code == 400 and response.json()["error"] == error, response.text


async def test_chains_nest_up_to_the_configured_depth() -> None:
    clock = FakeClock()
    config = exchange_config(maxDelegationDepth=2)
    async with running(config, clock, base_url=f"https://{A}") as (app, client):
        delegation = Delegation(app, client, clock)
        user_token = await delegation.user_token()
        planner, worker = await delegation.agent(), await delegation.agent()
        first = await delegation.exchanged(planner, user_token)
        second = await delegation.exchanged(worker, first, scope="read")
        assert claims_of(second)["act"] == {
            "sub": worker.client_id,
            "act": {"sub": planner.client_id},
        }
        gate = await delegation.gate(second)
        assert gate.headers["x-auth-request-actor"] == worker.client_id
        assert gate.headers["x-auth-request-user"] == "demo"
        deeper = await delegation.exchange(planner, second)
        assert deeper.status_code == 400 and deeper.json()["error"] == "invalid_request"


async def test_an_actor_token_names_the_actor_only_if_it_is_the_clients(
    delegation: Delegation,
) -> None:
    user_token = await delegation.user_token()
    agent, other = await delegation.agent(), await delegation.agent()
    state = state_of(delegation.app)
    host = state.hosts.get(B)
    assert host is not None

    def workload_token(client_id: str, subject: str = "workload:planner") -> str:
        return mint_access_token(
            state.keys.ring,
            host,
            Identity(subject),
            scopes=[],
            client_id=client_id,
            now=delegation.clock(),
            lifetime=timedelta(minutes=5),
        ).token

    form = {"actor_token": workload_token(agent.client_id), "actor_token_type": ACCESS}
    token = await delegation.exchanged(agent, user_token, **form)
    assert claims_of(token)["act"] == {"sub": "workload:planner"}
    assert claims_of(token)["aud"] == RESOURCE_A  # the actor token's host changes nothing
    stolen = {"actor_token": workload_token(other.client_id), "actor_token_type": ACCESS}
    refused = await delegation.exchange(agent, user_token, **stolen)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    long_name = {
        "actor_token": workload_token(agent.client_id, "w" * 257),
        "actor_token_type": ACCESS,
    }
    refused = await delegation.exchange(agent, user_token, **long_name)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"


async def test_revoking_the_user_ends_the_agents_token(delegation: Delegation) -> None:
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    delegated = await delegation.exchanged(agent, user_token)
    assert (await delegation.gate(delegated)).status_code == 200
    users = await delegation.http.get(
        "/admin/users", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    (demo,) = users.json()
    assert demo["live_tokens"] == 2  # the user's own and the agent's
    revoke = await delegation.http.post(
        "/admin/users/demo@example.com/revoke",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert revoke.status_code == 200 and revoke.json()["tokens_revoked"] == 2
    assert (await delegation.gate(delegated)).status_code == 401
    assert (await delegation.exchange(agent, user_token)).json()["error"] == "invalid_grant"


async def test_off_by_default() -> None:
    async with running(Config.model_validate(config_dict()), base_url=f"https://{A}") as (
        _app,
        client,
    ):
        form = {"grant_type": EXCHANGE, "subject_token": "x", "subject_token_type": ACCESS}
        response = await client.post("/token", data=form, headers={"host": A})
        metadata = await client.get("/.well-known/oauth-authorization-server", headers={"host": A})
    assert response.json()["error"] == "unsupported_grant_type"
    assert EXCHANGE not in metadata.json()["grant_types_supported"]


async def test_metadata_advertises_it_when_enabled(delegation: Delegation) -> None:
    metadata = await delegation.http.get(
        "/.well-known/oauth-authorization-server", headers={"host": A}
    )
    assert EXCHANGE in metadata.json()["grant_types_supported"]


def nested(depth: int) -> dict[str, Any]:
    act: dict[str, Any] = {"sub": f"agent-{depth}"}
    for level in range(depth - 1, 0, -1):
        act = {"sub": f"agent-{level}", "act": act}
    return act


MALFORMED_ACTS: dict[str, Any] = {
    "string": "agent",
    "null": None,
    "list": [{"sub": "agent"}],
    "number-sub": {"sub": 5},
    "empty-sub": {"sub": ""},
    "no-sub": {"act": {"sub": "agent"}},
    "unknown-member": {"sub": "agent", "iss": "https://elsewhere.test"},
    "nested-string": {"sub": "agent", "act": "planner"},
    "nested-null": {"sub": "agent", "act": None},
    "too-deep": nested(11),
    "long-sub": {"sub": "a" * 257},
}


@pytest.mark.parametrize("act", list(MALFORMED_ACTS))
async def test_a_token_with_a_malformed_act_is_refused(delegation: Delegation, act: str) -> None:
    """Signed by us or not, a token whose act this service could not have written never passes."""
    state = state_of(delegation.app)
    host = state.hosts.get(A)
    assert host is not None
    token = mint_access_token(
        state.keys.ring,
        host,
        Identity("demo"),
        scopes=["read"],
        client_id="agent",
        now=delegation.clock(),
        lifetime=timedelta(minutes=5),
        extra_claims={"act": MALFORMED_ACTS[act]},
    ).token
    response = await delegation.gate(token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_the_deepest_chain_allowed_names_its_outermost_actor(delegation: Delegation) -> None:
    state = state_of(delegation.app)
    host = state.hosts.get(A)
    assert host is not None
    token = mint_access_token(
        state.keys.ring,
        host,
        Identity("demo"),
        scopes=["read"],
        client_id="agent",
        now=delegation.clock(),
        lifetime=timedelta(minutes=5),
        extra_claims={"act": nested(10)},
    ).token
    response = await delegation.gate(token)
    assert response.status_code == 200
    assert response.headers["x-auth-request-actor"] == "agent-1"


async def test_removing_the_agent_ends_its_tokens_not_the_users(delegation: Delegation) -> None:
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    delegated = await delegation.exchanged(agent, user_token)
    removed = await delegation.http.delete(
        f"/admin/clients/{agent.client_id}", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert removed.status_code == 200 and removed.json()["tokens_revoked"] == 1
    assert (await delegation.gate(delegated)).status_code == 401
    assert (await delegation.gate(user_token)).status_code == 200


async def test_revoking_the_subject_token_ends_what_was_exchanged_from_it() -> None:
    """The user's client revokes its token at /revoke: the planner's token exchanged from it,
    and the worker's exchanged from that, stop at once; the user's other token does not."""
    clock = FakeClock()
    async with running(exchange_config(), clock, base_url=f"https://{A}") as (app, client):
        delegation = Delegation(app, client, clock)
        user_token, other_token = await delegation.user_token(), await delegation.user_token()
        planner, worker = await delegation.agent(), await delegation.agent()
        planned = await delegation.exchanged(planner, user_token)
        worked = await delegation.exchanged(worker, planned)
        kept = await delegation.exchanged(planner, other_token)
        revoked = await client.post(
            "/revoke", data={"token": user_token, "client_id": delegation.user_client}
        )
        assert revoked.status_code == 200
        statuses = [(await delegation.gate(t)).status_code for t in (planned, worked, kept)]
        assert statuses == [401, 401, 200]


async def test_removing_the_users_client_ends_the_agents_tokens_exchanged_from_it(
    delegation: Delegation,
) -> None:
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    delegated = await delegation.exchanged(agent, user_token)
    removed = await delegation.http.delete(
        f"/admin/clients/{delegation.user_client}",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert removed.status_code == 200 and removed.json()["tokens_revoked"] == 2
    assert (await delegation.gate(delegated)).status_code == 401


async def test_one_tenants_token_endpoint_never_exchanges_anothers_token(
    delegation: Delegation,
) -> None:
    user_token = await delegation.user_token()
    agent = await delegation.agent()
    body = {"grant_type": EXCHANGE, "subject_token": user_token, "subject_token_type": ACCESS}
    at_b = await delegation.http.post(
        "/token", data=body, headers={"host": B, "authorization": agent.basic}
    )
    assert at_b.status_code == 400 and at_b.json() == {
        "error": "invalid_target",
        "error_description": f"subject_token is for {RESOURCE_A}, served by https://{A}",
    }


async def test_a_machine_actor_acts_only_on_its_hosts() -> None:
    raw = exchange_settings(actors=["agent-a", "agent-b"])
    clients = [
        {"clientID": "agent-b", "secret": "b" * 32, "hosts": [B]},
        {"clientID": "agent-a", "secret": "a" * 32, "hosts": [A]},
    ]
    raw["grants"]["clientCredentials"] = {"enabled": True, "clients": clients}
    clock = FakeClock()
    config = Config.model_validate(raw)
    async with running(config, clock, base_url=f"https://{A}") as (app, client):
        delegation = Delegation(app, client, clock)
        user_token = await delegation.user_token()
        refused = await delegation.exchange(Agent("agent-b", "b" * 32), user_token)
        assert refused.status_code == 400 and refused.json() == {
            "error": "invalid_target",
            "error_description": f"this machine client is not bound to {A}",
        }
        assert (await delegation.exchange(Agent("agent-a", "a" * 32), user_token)).is_success


async def test_re_exchanging_ones_own_token_keeps_the_chain() -> None:
    """An agent narrowing its own delegated token is not a second actor: the chain stays."""
    clock = FakeClock()
    config = exchange_config(maxDelegationDepth=1)
    async with running(config, clock, base_url=f"https://{A}") as (app, client):
        delegation = Delegation(app, client, clock)
        agent = await delegation.agent()
        delegated = await delegation.exchanged(agent, await delegation.user_token())
        narrowed = await delegation.exchanged(agent, delegated, scope="read")
        assert claims_of(narrowed)["act"] == {"sub": agent.client_id}
        assert claims_of(narrowed)["scope"] == "read"
