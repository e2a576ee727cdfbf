"""The client_credentials grant (RFC 6749 §4.4) for machine clients from the configuration:
what a token holds, which host and scopes it may get, and who may not use the grant at all."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from mcp_gatekeeper.config import Config
from tests.flows.driver import REDIRECT_URI, Driver
from tests.machine_clients import (
    SECRET,
    assertion,
    basic,
    client_key,
    jwt_form,
    public_jwks,
    token_request,
)
from tests.support import FakeClock, config_dict, running

A, B = "a.example.test", "b.example.test"
RESOURCE_A, RESOURCE_B = f"https://{A}/mcp", f"https://{B}/mcp"
SCOPES_A = [
    {"name": "read", "description": "Read", "tools": ["get"]},
    {"name": "write", "description": "Write", "tools": ["put"]},
]
#: A secret client bound to A (read only); a private_key_jwt client bound to A and B.
CI, INDEXER = "nightly-ci", "indexer"


def machine_config(enabled: bool = True) -> dict[str, Any]:
    raw = config_dict(
        hosts=[
            {"host": A, "scopes": SCOPES_A},
            {"host": B, "scopes": [{"name": "read", "description": "Read", "tools": ["get"]}]},
        ]
    )
    raw["grants"] = {
        "clientCredentials": {
            "enabled": enabled,
            "clients": [
                {"clientID": CI, "name": "Nightly CI", "secret": SECRET, "hosts": [A]}
                | {"scopes": ["read"]},
                {
                    "clientID": INDEXER,
                    "jwks": public_jwks(client_key()),
                    "hosts": [A, B],
                    "scopes": ["read", "write"],
                },
            ],
        }
    }
    return raw


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Real time: PyJWT checks a client assertion's exp and iat against its own clock.
    config = Config.model_validate(machine_config())
    async with running(config, FakeClock(time.time()), base_url=f"https://{A}") as (_app, client):
        yield client


def claims_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    claims: dict[str, Any] = jwt.decode(
        response.json()["access_token"], options={"verify_signature": False}
    )
    return claims


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


def signed(client_id: str = INDEXER, audience: str = f"https://{A}/token") -> dict[str, str]:
    return jwt_form(assertion(client_key(), client_id, audience))


async def gate(http: httpx.AsyncClient, token: str, host: str = A) -> httpx.Response:
    headers = {"host": host, "authorization": f"Bearer {token}"}
    return await http.get("/authenticate", headers=headers)


async def test_a_secret_client_gets_a_machine_token_for_its_one_host(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """No resource needed with one host; the token names the client, no person, no refresh."""
    with caplog.at_level(logging.INFO, logger="mcp_gatekeeper.audit"):
        response = await token_request(http, {}, basic(CI, SECRET))
    claims = claims_of(response)
    assert "refresh_token" not in response.json()
    assert response.json()["scope"] == "read"
    assert (claims["sub"], claims["client_id"], claims["aud"]) == (CI, CI, RESOURCE_A)
    assert claims["gty"] == "client_credentials"
    assert not claims.get("groups") and not claims.get("email")
    issued = [r for r in caplog.records if r.getMessage() == "token_issued"]
    assert issued and issued[0].claims["gty"] == "client_credentials"  # type: ignore[attr-defined]
    answer = await gate(http, response.json()["access_token"])
    assert answer.status_code == 200
    assert answer.headers["x-auth-request-user"] == CI
    assert answer.headers["x-auth-request-email"] == ""


async def test_a_jwt_client_picks_its_host_and_narrows_its_scopes(
    http: httpx.AsyncClient,
) -> None:
    """Without scope: all the binding allows that the host offers; with scope: that subset."""
    everything = claims_of(await token_request(http, {"resource": RESOURCE_A} | signed()))
    assert everything["scope"] == "read write"
    narrow = await token_request(http, {"resource": RESOURCE_A, "scope": "write"} | signed())
    assert claims_of(narrow)["scope"] == "write"
    # B offers only read: that is all the binding can get there.
    at_b = await http.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": RESOURCE_B}
        | signed(audience=f"https://{B}/token"),
        headers={"host": B},
    )
    assert (claims_of(at_b)["aud"], claims_of(at_b)["scope"]) == (RESOURCE_B, "read")


@pytest.mark.parametrize(
    ("form", "credentials", "expected"),
    [
        ({"resource": RESOURCE_B}, "ci", "invalid_target"),
        ({"resource": "https://elsewhere.example.test/mcp"}, "ci", "invalid_target"),
        ({"scope": "read write"}, "ci", "invalid_scope"),
        ({"scope": "offline_access"}, "ci", "invalid_scope"),
        ({}, "indexer", "invalid_target"),  # two hosts: which one?
    ],
    ids=["other-host", "unknown-host", "scope-beyond-binding", "offline-access", "no-resource"],
)
async def test_a_host_or_scope_outside_the_binding_is_refused(
    http: httpx.AsyncClient, form: dict[str, str], credentials: str, expected: str
) -> None:
    headers = basic(CI, SECRET) if credentials == "ci" else {}
    extra = signed() if credentials == "indexer" else {}
    response = await token_request(http, form | extra, headers)
    assert error_of(response) == (400, expected), response.text


async def test_the_token_endpoint_of_one_host_never_mints_for_another() -> None:
    """Host isolation: each host is its own issuer; B's token endpoint refuses A's resource,
    and B's token does not open A."""
    config = Config.model_validate(machine_config())
    async with running(config, FakeClock(time.time()), base_url=f"https://{B}") as (_app, http):
        form = {"resource": RESOURCE_A} | signed(audience=f"https://{B}/token")
        assert error_of(await token_request(http, form)) == (400, "invalid_target")
        form = {"resource": RESOURCE_B} | signed(audience=f"https://{B}/token")
        token = (await token_request(http, form)).json()["access_token"]
        assert (await gate(http, token, B)).status_code == 200
        assert (await gate(http, token, A)).status_code == 401


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        ({}, basic(CI, SECRET + "x")),
        ({"client_id": CI, "client_secret": SECRET}, {}),  # its method is Basic, not the form
        ({"client_id": CI}, {}),
        ({}, basic(INDEXER, SECRET)),  # a JWT client has no secret
        ({}, basic("nobody", SECRET)),
    ],
    ids=["wrong-secret", "secret-in-form", "no-secret", "jwt-client-with-secret", "unknown"],
)
async def test_failed_client_authentication_is_invalid_client(
    http: httpx.AsyncClient, form: dict[str, str], headers: dict[str, str]
) -> None:
    response = await token_request(http, form, headers)
    assert error_of(response) == (401, "invalid_client"), response.text


async def test_a_registered_client_may_not_use_client_credentials(
    http: httpx.AsyncClient,
) -> None:
    """A DCR client with a secret is confidential, but nobody bound it to hosts and scopes."""
    registered = await Driver(http).register(token_endpoint_auth_method="client_secret_basic")
    headers = basic(registered["client_id"], registered["client_secret"])
    response = await token_request(http, {"resource": RESOURCE_A}, headers)
    assert error_of(response) == (400, "unauthorized_client"), response.text


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "authorization_code", "code": "x", "code_verifier": "y" * 43}
        | {"redirect_uri": REDIRECT_URI},
        {"grant_type": "refresh_token", "refresh_token": "x"},
    ],
    ids=["authorization_code", "refresh_token"],
)
async def test_a_machine_client_may_use_machine_grants_only(
    http: httpx.AsyncClient, form: dict[str, str]
) -> None:
    response = await http.post("/token", data=form, headers=basic(CI, SECRET))
    assert error_of(response) == (400, "unauthorized_client"), response.text


async def test_client_credentials_are_off_by_default() -> None:
    """Clients in the file change nothing until the grant is enabled, nor is it advertised."""
    config = Config.model_validate(machine_config(enabled=False))
    async with running(config, base_url=f"https://{A}") as (_app, http):
        response = await token_request(http, {}, basic(CI, SECRET))
        assert error_of(response) == (400, "unsupported_grant_type")
        document = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert "client_credentials" not in document["grant_types_supported"]
    assert "private_key_jwt" not in document["token_endpoint_auth_methods_supported"]


async def test_a_machine_client_revokes_its_own_token(http: httpx.AsyncClient) -> None:
    """RFC 7009 with either way of authenticating; the token is refused at once."""
    by_secret = (await token_request(http, {}, basic(CI, SECRET))).json()["access_token"]
    by_jwt = (await token_request(http, {"resource": RESOURCE_A} | signed())).json()
    for token, form, headers in (
        (by_secret, {}, basic(CI, SECRET)),
        (by_jwt["access_token"], signed(), {}),
    ):
        response = await http.post("/revoke", data={"token": token} | form, headers=headers)
        assert response.status_code == 200, response.text
        assert (await gate(http, token)).status_code == 401
