"""``private_key_jwt`` client authentication (RFC 7523 §2.2): what a client assertion must be,
and the forged, replayed and confused ones that get ``invalid_client``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from mcp_gatekeeper.config import Config
from tests.machine_clients import (
    KID,
    assertion,
    client_key,
    jwt_form,
    public_jwks,
    public_pem,
    token_request,
    unsigned,
)
from tests.support import FakeClock, config_dict, running

A = "a.example.test"
ISSUER, TOKEN_ENDPOINT = f"https://{A}", f"https://{A}/token"
AGENT, OTHER = "agent", "other-agent"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    raw = config_dict()
    raw["grants"] = {
        "clientCredentials": {
            "enabled": True,
            "clients": [
                {"clientID": AGENT, "jwks": public_jwks(client_key(0)), "hosts": [A]}
                | {"scopes": ["read"]},
                {"clientID": OTHER, "jwks": public_jwks(client_key(1)), "hosts": [A]},
            ],
        }
    }
    config = Config.model_validate(raw)
    # Real time: PyJWT checks exp and iat against its own clock.
    async with running(config, FakeClock(time.time()), base_url=ISSUER) as (_app, client):
        yield client


async def send(http: httpx.AsyncClient, token: str, **form: str) -> httpx.Response:
    return await token_request(http, jwt_form(token, **form))


def claims(**override: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": AGENT, "sub": AGENT, "aud": TOKEN_ENDPOINT, "iat": now, "exp": now + 60}
    return base | {"jti": f"j-{time.monotonic_ns()}"} | override


@pytest.mark.parametrize("audience", [TOKEN_ENDPOINT, ISSUER])
async def test_a_signed_assertion_authenticates(http: httpx.AsyncClient, audience: str) -> None:
    """aud is the token endpoint or the issuer; the client gets its token."""
    response = await send(http, assertion(client_key(0), AGENT, audience))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read"


async def test_an_assertion_is_used_once(http: httpx.AsyncClient) -> None:
    """A replayed assertion (same jti) is refused, even within its lifetime."""
    token = assertion(client_key(0), AGENT, TOKEN_ENDPOINT)
    assert (await send(http, token)).status_code == 200
    replay = await send(http, token)
    assert replay.status_code == 401 and "already used" in replay.json()["error_description"]


#: Each forgery, and what the refusal says (so each is refused for its own reason).
HOSTILE: dict[str, Callable[[], str]] = {
    "wrong-aud": lambda: assertion(client_key(0), AGENT, "https://b.example.test/token"),
    "expired": lambda: assertion(client_key(0), AGENT, TOKEN_ENDPOINT, now=time.time() - 600),
    "lives-too-long": lambda: assertion(client_key(0), AGENT, TOKEN_ENDPOINT, lifetime=3600),
    "no-jti": lambda: assertion(client_key(0), AGENT, TOKEN_ENDPOINT, jti=None),
    "iss-not-sub": lambda: assertion(client_key(0), AGENT, TOKEN_ENDPOINT, iss=OTHER),
    "another-clients-key": lambda: assertion(client_key(1), AGENT, TOKEN_ENDPOINT),
    "kid-not-in-jwks": lambda: assertion(client_key(0), AGENT, TOKEN_ENDPOINT, kid="other"),
    "jku-header": lambda: assertion(
        client_key(0), AGENT, TOKEN_ENDPOINT, headers={"jku": "https://evil.example/jwks"}
    ),
    "alg-none": lambda: unsigned({"alg": "none", "kid": KID}, claims()),
    "alg-confusion-hs256": lambda: unsigned(
        {"alg": "HS256", "kid": KID}, claims(), secret=public_pem(client_key(0))
    ),
    "not-a-jwt": lambda: "not.a.jwt",
    "no-sub": lambda: assertion(client_key(0), AGENT, TOKEN_ENDPOINT, sub=None),
}

REASONS = {
    "wrong-aud": "Audience",
    "expired": "expired",
    "lives-too-long": "longer than 300",
    "no-jti": "no jti",
    "iss-not-sub": "issuer",
    "another-clients-key": "Signature verification",
    "kid-not-in-jwks": "does not publish",
    "jku-header": "other keys",
    "alg-none": "'none' is not accepted",
    "alg-confusion-hs256": "'HS256' is not accepted",
    "not-a-jwt": "not a JWT",
    "no-sub": "no sub",
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_bad_assertion_is_invalid_client(http: httpx.AsyncClient, case: str) -> None:
    response = await send(http, HOSTILE[case]())
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert REASONS[case] in response.json()["error_description"]


async def test_another_clients_assertion_cannot_name_this_client(
    http: httpx.AsyncClient,
) -> None:
    """client_id in the form must be the assertion's sub."""
    token = assertion(client_key(1), OTHER, TOKEN_ENDPOINT)
    response = await send(http, token, client_id=AGENT)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        ({"client_assertion_type": "urn:example:other"}, {}),
        ({}, {"authorization": "Basic YWdlbnQ6eA=="}),
        ({"client_secret": "x"}, {}),
    ],
    ids=["wrong-type", "and-basic", "and-secret"],
)
async def test_an_assertion_comes_alone_and_typed(
    http: httpx.AsyncClient, form: dict[str, str], headers: dict[str, str]
) -> None:
    body = jwt_form(assertion(client_key(0), AGENT, TOKEN_ENDPOINT)) | form
    response = await token_request(http, body, headers)
    assert response.status_code == 401, response.text
