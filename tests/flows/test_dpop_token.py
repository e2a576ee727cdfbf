"""DPoP at /token (RFC 9449 §5), in process with the demo provider: a client that signs proofs
with its key gets tokens bound to it, its refresh token only works with that key, each proof is
good once, and each host's ``dpop`` mode decides whether tokens are bound at all."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.dpop_proofs import DpopKey
from tests.flows.dpop_world import (
    OFF,
    REQUIRED,
    DpopWorld,
    basic,
    claims_of,
    dpop_config,
    dpop_world,
    refused,
)


@pytest.fixture
async def world() -> AsyncIterator[DpopWorld]:
    async with dpop_world() as world:
        yield world


async def test_a_public_client_gets_a_token_bound_to_its_key(world: DpopWorld) -> None:
    key = DpopKey()
    tokens = await world.login(key)
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": key.thumbprint}
    # Without a proof the same login yields a Bearer token: DPoP is only allowed on this host.
    bearer = await world.login(None)
    assert bearer["token_type"] == "Bearer" and "cnf" not in claims_of(bearer["access_token"])


async def test_its_refresh_token_works_with_that_key_only(world: DpopWorld) -> None:
    key = DpopKey()
    tokens = await world.login(key)
    bare = await world.refresh(tokens, None)
    assert refused(bare, "invalid_grant", "bound to a DPoP key: send a DPoP proof")
    thief = await world.refresh(tokens, world.proof(DpopKey("EdDSA")))
    assert refused(thief, "invalid_grant", "bound to another DPoP key")
    # Neither attempt counted as a replay of the refresh token: the holder of the key refreshes.
    fresh = await world.refresh(tokens, world.proof(key))
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.thumbprint}
    again = await world.refresh(body | {"client_id": tokens["client_id"]}, world.proof(DpopKey()))
    assert refused(again, "invalid_grant", "another DPoP key")


async def test_a_confidential_clients_refresh_token_is_not_bound_to_the_key(
    world: DpopWorld,
) -> None:
    """RFC 9449 §5: its client authentication already constrains it."""
    client, code, login = await world.code(token_endpoint_auth_method="client_secret_basic")
    auth = basic(client["client_id"], client["client_secret"])
    key = DpopKey()
    form = world.code_form(code, login)
    del form["client_id"]
    first = await world.post(form, world.proof(key), authorization=auth)
    assert first.status_code == 200 and first.json()["token_type"] == "DPoP"
    tokens = {**first.json(), "client_id": client["client_id"]}
    refreshed = await world.refresh(tokens, None, authorization=auth)
    assert refreshed.status_code == 200 and refreshed.json()["token_type"] == "Bearer"
    other = DpopKey()
    tokens = {**refreshed.json(), "client_id": client["client_id"]}
    rebound = await world.refresh(tokens, world.proof(other), authorization=auth)
    assert claims_of(rebound.json()["access_token"])["cnf"] == {"jkt": other.thumbprint}


async def test_a_proof_is_accepted_once(world: DpopWorld) -> None:
    key = DpopKey()
    _client, code, login = await world.code()
    proof = world.proof(key)
    assert (await world.post(world.code_form(code, login), proof)).status_code == 200
    _client, code, login = await world.code()
    replayed = await world.post(world.code_form(code, login), proof)
    assert refused(replayed, "invalid_dpop_proof", "already used")
    # The refused proof did not spend the code: a new proof gets the token.
    good = await world.post(world.code_form(code, login), world.proof(key))
    assert good.status_code == 200, good.text


@pytest.mark.parametrize(
    ("claims", "header", "age", "words"),
    [
        ({"htm": "GET"}, {}, 0.0, "htm"),
        ({"htu": f"https://{OFF}/token"}, {}, 0.0, "htu"),
        ({"htu": "https://a.example.test/authorize"}, {}, 0.0, "htu"),
        ({}, {"typ": "JWT"}, 0.0, "typ"),
        ({}, {}, 3600.0, "iat"),
    ],
)
async def test_a_proof_for_another_request_is_refused(
    world: DpopWorld, claims: dict[str, str], header: dict[str, str], age: float, words: str
) -> None:
    _client, code, login = await world.code()
    key = DpopKey()
    iat = world.clock.now - age
    proof = key.proof("POST", world.token_url, iat=iat, claims=claims, header=header)
    bad = await world.post(world.code_form(code, login), proof)
    assert refused(bad, "invalid_dpop_proof", words)
    # Refused before the grant ran: the code is still good for a right proof.
    good = await world.post(world.code_form(code, login), world.proof(key))
    assert good.status_code == 200 and good.json()["token_type"] == "DPoP"


async def test_two_dpop_headers_are_refused(world: DpopWorld) -> None:
    _client, code, login = await world.code()
    key = DpopKey()
    twice = await world.http.post(
        "/token",
        data=world.code_form(code, login),
        headers=[("host", world.host), ("dpop", world.proof(key)), ("dpop", world.proof(key))],
    )
    assert refused(twice, "invalid_dpop_proof", "exactly one DPoP header")


async def test_server_nonces_are_handed_out_and_required() -> None:
    async with dpop_world(dpop_config(nonces=True)) as world:
        key = DpopKey()
        _client, code, login = await world.code()
        form = world.code_form(code, login)
        first = await world.post(form, world.proof(key))
        assert refused(first, "use_dpop_nonce", "must carry the nonce")
        nonce = first.headers["dpop-nonce"]
        forged = await world.post(form, world.proof(key, nonce="A" * 32))
        assert refused(forged, "use_dpop_nonce", "not issued here")
        assert forged.headers["dpop-nonce"] == nonce
        done = await world.post(form, world.proof(key, nonce=nonce))
        assert done.status_code == 200 and done.json()["token_type"] == "DPoP"
        assert (
            done.headers["dpop-nonce"]
            and "DPoP-Nonce" in done.headers["access-control-expose-headers"]
        )
        # A nonce lives one to two minutes; an old one is answered with the current one.
        world.clock.advance(180)
        stale = await world.refresh(done.json() | {"client_id": login.client_id}, None)
        assert stale.status_code == 400
        late = await world.refresh(
            done.json() | {"client_id": login.client_id}, world.proof(key, nonce=nonce)
        )
        assert refused(late, "use_dpop_nonce", "expired") and late.headers["dpop-nonce"] != nonce
        renewed = late.headers["dpop-nonce"]
        fresh = await world.refresh(
            done.json() | {"client_id": login.client_id}, world.proof(key, nonce=renewed)
        )
        assert fresh.status_code == 200, fresh.text


async def test_without_nonces_no_nonce_header(world: DpopWorld) -> None:
    tokens = await world.login(DpopKey())
    assert tokens["token_type"] == "DPoP"
    preflight = await world.http.options("/token", headers={"host": world.host})
    assert "DPoP" in preflight.headers["access-control-allow-headers"]


async def test_a_host_with_dpop_off_ignores_proofs(world: DpopWorld) -> None:
    off = world.on(OFF)
    tokens = await off.login(DpopKey())
    assert tokens["token_type"] == "Bearer" and "cnf" not in claims_of(tokens["access_token"])
    # Nor is the refresh token bound: the proof was ignored altogether.
    assert (await off.refresh(tokens, None)).status_code == 200


async def test_a_host_that_requires_dpop_refuses_requests_without_a_proof(
    world: DpopWorld,
) -> None:
    required = world.on(REQUIRED)
    _client, code, login = await required.code()
    bare = await required.post(required.code_form(code, login), None)
    assert refused(bare, "invalid_dpop_proof", "requires DPoP-bound tokens")
    key = DpopKey("RS256")
    tokens = await required.login(key)
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": key.thumbprint}


async def test_a_client_that_registered_dpop_bound_tokens_must_send_proofs(
    world: DpopWorld,
) -> None:
    """RFC 9449 §5.2: even on a host where DPoP is only allowed."""
    client, code, login = await world.code(dpop_bound_access_tokens=True)
    assert client["dpop_bound_access_tokens"] is True
    bare = await world.post(world.code_form(code, login), None)
    assert refused(bare, "invalid_dpop_proof", "dpop_bound_access_tokens")
    tokens = await world.login(DpopKey(), dpop_bound_access_tokens=True)
    assert tokens["token_type"] == "DPoP"
    plain = await world.driver.register()
    assert "dpop_bound_access_tokens" not in plain
    wrong = await world.http.post(
        "/register",
        json={"redirect_uris": ["http://127.0.0.1:3030/callback"], "dpop_bound_access_tokens": 1},
        headers={"host": world.host},
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client_metadata"
