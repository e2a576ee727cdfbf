"""POST /register (RFC 7591): what may be registered, and the errors for what may not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support import make_config, running

A = "a.example.test"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    config = make_config(
        allowedRedirectURLs=[r"https://app\.example\.com/.*", r"http://127\.0\.0\.1.*"]
    )
    async with running(config, base_url=f"https://{A}") as (_app, http):
        yield http


async def register(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/register", json={"redirect_uris": ["http://127.0.0.1/cb"], **body})


async def test_public_native_client_as_the_mcp_sdk_registers(client: httpx.AsyncClient) -> None:
    """The exact body the MCP Python SDK sends is accepted; no secret for a public client."""
    response = await register(
        client,
        response_types=["code"],
        scope="read",
        client_name="headless-e2e",
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        application_type="native",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["client_id"] and "client_secret" not in body
    assert body["application_type"] == "native" and body["redirect_uris"] == ["http://127.0.0.1/cb"]
    assert response.headers["access-control-allow-origin"] == "*"


async def test_confidential_client_gets_a_secret_once(client: httpx.AsyncClient) -> None:
    """client_secret_basic (the RFC default) returns a secret that never expires."""
    body = (await register(client)).json()
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert len(body["client_secret"]) >= 32 and body["client_secret_expires_at"] == 0


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "data:text/html,hi",
        "https://app.example.com/cb#frag",
        "https://user@app.example.com/cb",
        "http://app.example.com/cb",
        "https://evil.example.com/cb",
        "ftp://127.0.0.1/cb",
        "/relative",
    ],
    ids=[
        "javascript",
        "data",
        "fragment",
        "userinfo",
        "http-remote",
        "not-allowed",
        "ftp",
        "relative",
    ],
)
async def test_dangerous_redirect_uris_are_refused(client: httpx.AsyncClient, uri: str) -> None:
    """invalid_redirect_uri for script schemes, fragments, userinfo, remote http, the allow-list."""
    response = await register(client, redirect_uris=[uri])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize(
    "body",
    [
        {"redirect_uris": []},
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"grant_types": ["client_credentials"]},
        {"grant_types": ["refresh_token"]},
        {"response_types": ["token"]},
        {"client_name": "bad\nname"},
        {"redirect_uris": "http://127.0.0.1/cb"},
    ],
    ids=[
        "no-redirects",
        "private-key-jwt",
        "client-credentials",
        "no-auth-code",
        "implicit",
        "control-chars",
        "not-a-list",
    ],
)
async def test_bad_metadata_is_refused(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """invalid_client_metadata with a description naming the problem."""
    response = await register(client, **body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert response.json()["error_description"]


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b"\xff\xfe"], ids=["text", "array", "bytes"]
)
async def test_malformed_body_is_invalid_client_metadata(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    """Never a 422 or 500, always the RFC 7591 error."""
    response = await client.post(
        "/register", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"


async def register_from(client: httpx.AsyncClient, forwarded_for: str) -> httpx.Response:
    """A registration as the gateway forwards it: the client's address appended last."""
    return await client.post(
        "/register",
        json={"redirect_uris": ["http://127.0.0.1/cb"]},
        headers={"x-forwarded-for": forwarded_for},
    )


async def test_registration_is_rate_limited(client: httpx.AsyncClient) -> None:
    """A flood of registrations from many addresses is slowed down (429) by the global limit
    instead of filling the store."""
    statuses = [(await register_from(client, f"198.51.100.{n}")).status_code for n in range(40)]
    assert statuses.count(201) == 30 and statuses[-1] == 429


async def test_one_address_cannot_use_up_everyone_s_registrations(
    client: httpx.AsyncClient,
) -> None:
    """10 a minute per client address (the entry the gateway appends, not what the client put
    before it); after that 429 slow_down with Retry-After, while other addresses still register."""
    statuses = [
        (await register_from(client, f"10.0.0.{n}, 203.0.113.7")).status_code for n in range(12)
    ]
    assert statuses == [201] * 10 + [429] * 2
    refused = await register_from(client, "203.0.113.7")
    assert refused.status_code == 429 and refused.json()["error"] == "slow_down"
    assert "this address" in refused.json()["error_description"]
    assert 1 <= int(refused.headers["retry-after"]) <= 6  # one registration every 6 seconds
    assert (await register_from(client, "203.0.113.8")).status_code == 201
    assert (await register_from(client, "2001:db8::1")).status_code == 201


async def test_refused_requests_leave_no_state_behind() -> None:
    """Bad registrations, authorizations and token requests store nothing."""
    from tests.flows.driver import Driver
    from tests.support import state_of

    async with running(make_config(), base_url=f"https://{A}") as (app, http):
        for body in ({"redirect_uris": ["javascript:x"]}, {"grant_types": ["password"]}):
            assert (await register(http, **body)).status_code == 400
        driver = Driver(http)
        client = await driver.register()
        for params in (
            {"code_challenge": ""},
            {"resource": "https://nope.example/mcp"},
            {"redirect_uri": "https://evil.example/cb"},
        ):
            response, _ = await driver.authorize(client["client_id"], **params)
            assert response.status_code in (303, 400)
        token = await http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": "x",
                "client_id": client["client_id"],
            },
        )
        assert token.status_code == 400
        store = state_of(app).store
        assert [key for key, _ in await store.items("clients")] == [client["client_id"]]
        for namespace in ("logins", "consents", "codes", "families", "refresh", "approvals"):
            assert await store.items(namespace) == [], namespace
