"""RFC 9449 at /authenticate: a DPoP-bound token passes only with a fresh proof of its key, for
the request the gateway says the client made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from tests.dpop_proofs import DpopKey
from tests.support import FakeClock, config_dict, mint, running, state_of

A = "a.example.test"
URL = f"https://{A}/mcp"


@dataclass
class Bound:
    app: FastAPI
    client: httpx.AsyncClient
    key: DpopKey
    token: str

    @property
    def now(self) -> float:
        return state_of(self.app).clock()

    async def check(
        self, token: str | None = None, scheme: str = "DPoP", **headers: str
    ) -> httpx.Response:
        """Envoy's way: the original method and path on the request line after the prefix."""
        sent = {"host": A, "authorization": f"{scheme} {token or self.token}", **headers}
        return await self.client.post("/authenticate/mcp", headers=sent)

    def proof(self, **kwargs: Any) -> str:
        kwargs.setdefault("access_token", self.token)
        kwargs.setdefault("iat", self.now)
        return self.key.proof(kwargs.pop("method", "POST"), kwargs.pop("url", URL), **kwargs)


def _config(dpop: str = "allowed", trustedHostHeaders: str = "host", **tokens: Any) -> Config:
    raw = config_dict(trustedHostHeaders=trustedHostHeaders)
    raw["proxy"]["hosts"][0]["dpop"] = dpop
    raw["tokens"] = tokens
    return Config.model_validate(raw)


@pytest.fixture
async def bound() -> AsyncIterator[Bound]:
    async with running(_config(), FakeClock()) as (app, client):
        key = DpopKey()
        token = mint(app, A, extra_claims={"cnf": {"jkt": key.thumbprint}})
        yield Bound(app, client, key, token)


def _challenge(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and 'algs="ES256 RS256 PS256 EdDSA"' in challenge
    return challenge


async def test_a_bound_token_with_a_proof_of_its_key_passes(bound: Bound) -> None:
    response = await bound.check(dpop=bound.proof())
    assert response.status_code == 200, response.text
    assert response.headers["x-auth-request-user"] == "alice"


async def test_each_gateway_family_states_the_original_url(bound: Bound) -> None:
    """Traefik and Caddy send X-Forwarded-Uri (with the query, which htu leaves out)."""
    async with running(_config(trustedHostHeaders="x-forwarded"), FakeClock()) as (app, client):
        token = mint(app, A, extra_claims={"cnf": {"jkt": bound.key.thumbprint}})
        now = state_of(app).clock()
        headers = {
            "x-forwarded-host": A,
            "x-forwarded-method": "POST",
            "x-forwarded-uri": "/mcp?session=1",
            "authorization": f"DPoP {token}",
        }
        proof = bound.key.proof("POST", URL, access_token=token, iat=now)
        ok = await client.get("/authenticate", headers={**headers, "dpop": proof})
        assert ok.status_code == 200, ok.text
        other = bound.key.proof("POST", f"https://{A}/other", access_token=token, iat=now)
        moved = await client.get(
            "/authenticate", headers={**headers, "x-forwarded-uri": "/other", "dpop": other}
        )
        assert moved.status_code == 200, "the proof names the URL the gateway states"
        refused = await client.get("/authenticate", headers={**headers, "dpop": other})
        assert "htu" in _challenge(refused)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "GET"}, "htm"),
        ({"url": f"https://{A}/elsewhere"}, "htu"),
        ({"url": "https://b.example.test/mcp"}, "htu"),
        ({"access_token": "another.token.value"}, "ath"),
        ({"iat": -600.0}, "iat"),
    ],
)
async def test_a_proof_for_another_request_is_refused(
    bound: Bound, change: dict[str, Any], reason: str
) -> None:
    if "iat" in change:
        change = {"iat": bound.now + change["iat"]}
    challenge = _challenge(await bound.check(dpop=bound.proof(**change)))
    assert 'error="invalid_dpop_proof"' in challenge and reason in challenge


async def test_a_proof_is_accepted_once(bound: Bound) -> None:
    proof = bound.proof()
    assert (await bound.check(dpop=proof)).status_code == 200
    assert "replayed" in _challenge(await bound.check(dpop=proof))


async def test_a_proof_from_another_key_is_refused(bound: Bound) -> None:
    thief = DpopKey()
    proof = thief.proof("POST", URL, access_token=bound.token, iat=bound.now)
    assert "another key" in _challenge(await bound.check(dpop=proof))


async def test_a_bound_token_without_its_proof_or_as_bearer_is_refused(bound: Bound) -> None:
    assert 'error="invalid_dpop_proof"' in _challenge(await bound.check())
    as_bearer = await bound.check(scheme="Bearer", dpop=bound.proof())
    assert 'error="invalid_token"' in _challenge(as_bearer)
    two = await bound.client.post(
        "/authenticate/mcp",
        headers=[
            ("host", A),
            ("authorization", f"DPoP {bound.token}"),
            ("dpop", bound.proof()),
            ("dpop", bound.proof()),
        ],
    )
    assert 'error="invalid_dpop_proof"' in _challenge(two)


async def test_an_unbound_token_keeps_working_as_bearer_but_not_as_dpop(bound: Bound) -> None:
    plain = mint(bound.app, A)
    assert (await bound.check(token=plain, scheme="Bearer")).status_code == 200
    refused = await bound.check(token=plain, dpop=bound.proof(access_token=plain))
    assert "not DPoP-bound" in _challenge(refused)


async def test_a_host_that_requires_dpop_refuses_bearer_tokens() -> None:
    async with running(_config("required"), FakeClock()) as (app, client):
        plain = mint(app, A)
        response = await client.post(
            "/authenticate/mcp", headers={"host": A, "authorization": f"Bearer {plain}"}
        )
        assert "accepts only DPoP-bound tokens" in _challenge(response)
        assert (
            await client.post(
                "/authenticate/mcp",
                headers={
                    "host": "b.example.test",
                    "authorization": f"Bearer {mint(app, 'b.example.test')}",
                },
            )
        ).status_code == 200, "another host is not affected"


async def test_with_nonces_on_a_proof_must_carry_a_fresh_server_nonce() -> None:
    async with running(_config(dpopNonces=True), FakeClock()) as (app, client):
        key = DpopKey()
        token = mint(app, A, extra_claims={"cnf": {"jkt": key.thumbprint}})
        now = state_of(app).clock()
        headers = {"host": A, "authorization": f"DPoP {token}"}
        first = await client.post(
            "/authenticate/mcp",
            headers={**headers, "dpop": key.proof("POST", URL, access_token=token, iat=now)},
        )
        assert 'error="use_dpop_nonce"' in _challenge(first)
        nonce = first.headers["dpop-nonce"]
        assert "DPoP-Nonce" in first.headers["access-control-expose-headers"]
        proof = key.proof("POST", URL, access_token=token, iat=now, nonce=nonce)
        assert (
            await client.post("/authenticate/mcp", headers={**headers, "dpop": proof})
        ).status_code == 200


@pytest.mark.parametrize(
    "cnf",
    [
        {"jkt": "short"},
        {"jkt": "A" * 43, "x5t#S256": "B" * 43},
        {"x5t#S256": "B" * 43},
        "jkt",
        None,
    ],
)
async def test_a_token_with_a_confirmation_we_do_not_write_is_refused(
    bound: Bound, cnf: object
) -> None:
    odd = mint(bound.app, A, extra_claims={"cnf": cnf})
    response = await bound.check(token=odd, scheme="Bearer")
    assert (
        response.status_code == 401
        and 'error="invalid_token"' in response.headers["www-authenticate"]
    )


async def test_behind_caddy_the_stated_method_is_checked_not_the_auth_request_s(
    bound: Bound,
) -> None:
    """Caddy asks with GET and states the original method in X-Forwarded-Method."""
    headers = {
        "host": A,
        "x-forwarded-method": "POST",
        "x-forwarded-uri": "/mcp",
        "authorization": f"DPoP {bound.token}",
    }
    ok = await bound.client.get("/authenticate", headers={**headers, "dpop": bound.proof()})
    assert ok.status_code == 200, ok.text
    as_get = bound.proof(method="GET")
    assert "htm" in _challenge(
        await bound.client.get("/authenticate", headers={**headers, "dpop": as_get})
    )


async def test_behind_envoy_a_client_sent_forwarded_uri_does_not_move_the_url(
    bound: Bound,
) -> None:
    elsewhere = bound.proof(url=f"https://{A}/elsewhere")
    response = await bound.check(dpop=elsewhere, **{"x-forwarded-uri": "/elsewhere"})
    assert "htu" in _challenge(response)
