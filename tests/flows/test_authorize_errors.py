"""/authorize: an untrusted redirect URI never gets a redirect; later errors go to the client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.flows.driver import REDIRECT_URI, Driver, query_of
from tests.support import make_config, running

A = "a.example.test"


@pytest.fixture
async def driver() -> AsyncIterator[Driver]:
    async with running(make_config(), base_url=f"https://{A}") as (_app, client):
        yield Driver(client)


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": ""},
        {"client_id": "not-registered"},
        {"redirect_uri": "https://evil.example/cb"},
        {"redirect_uri": "http://localhost:3030/callback"},
        {"redirect_uri": "http://127.0.0.1:3030/callback/extra"},
    ],
    ids=["no-client", "unknown-client", "foreign-redirect", "localhost-is-not-127", "extra-path"],
)
async def test_untrusted_client_or_redirect_gets_a_page_not_a_redirect(
    driver: Driver, params: dict[str, str]
) -> None:
    """Before the redirect URI is trusted, errors are a readable page (no open redirector)."""
    client = await driver.register()
    response, _ = await driver.authorize(params.pop("client_id", client["client_id"]), **params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


async def test_loopback_ip_redirect_may_use_another_port(driver: Driver) -> None:
    """RFC 8252 §7.3: native apps get a fresh port on 127.0.0.1 each time."""
    client = await driver.register()
    response, _ = await driver.authorize(
        client["client_id"], redirect_uri="http://127.0.0.1:49152/callback"
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"resource": "https://elsewhere.example/mcp"}, "invalid_target"),
        ({"resource": "https://b.example.test/mcp"}, "invalid_target"),
    ],
    ids=["implicit", "no-pkce", "plain-pkce", "no-method", "unknown-resource", "other-issuer"],
)
async def test_later_errors_redirect_with_state_and_issuer(
    driver: Driver, params: dict[str, str], error: str
) -> None:
    """After the redirect URI is validated, errors go back to the client (RFC 6749 §4.1.2.1)."""
    client = await driver.register()
    response, login = await driver.authorize(client["client_id"], **params)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI)
    query = query_of(location)
    assert query["error"] == error and query["state"] == login.state
    assert query["iss"] == "https://a.example.test"


async def test_missing_resource_defaults_to_the_host_of_the_request(driver: Driver) -> None:
    """Clients before MCP 2025-06-18 omit resource: the host they came in on is meant."""
    client = await driver.register()
    code, login = await driver.code_for(client["client_id"], resource="")
    tokens = (await driver.exchange(code, login)).json()
    assert "access_token" in tokens


async def test_repeated_parameters_are_refused(driver: Driver) -> None:
    """RFC 6749 §3.1: a parameter sent twice is an error."""
    client = await driver.register()
    response = await driver.client.get(
        "/authorize",
        params=[("client_id", client["client_id"]), ("client_id", client["client_id"])],
    )
    assert response.status_code == 400


async def test_unknown_scopes_are_dropped_and_granted_scope_reported(driver: Driver) -> None:
    """Scopes the host does not offer are ignored; the token response says what was granted."""
    client = await driver.register()
    code, login = await driver.code_for(client["client_id"], scope="read admin:everything")
    assert (await driver.exchange(code, login)).json()["scope"] == "read"


async def test_unknown_host_gets_421(driver: Driver) -> None:
    """The authorization server answers only on configured hosts and the issuer's."""
    response = await driver.client.get("/authorize", headers={"host": "evil.example.test"})
    assert response.status_code == 421


async def test_expired_login_state_is_refused(driver: Driver) -> None:
    """A callback with an unknown state shows a page telling the user to start again."""
    response = await driver.client.get("/callback", params={"state": "x", "code": "y"})
    assert response.status_code == 400 and "Start again" in response.text


async def test_identity_provider_error_goes_back_as_access_denied(driver: Driver) -> None:
    """If the IdP answers error=..., the client gets access_denied with its state."""
    client = await driver.register()
    response, login = await driver.authorize(client["client_id"])
    page = await driver.follow(response)
    state = httpx.URL(str(page.request.url)).params["state"]
    callback = await driver.client.get("/callback", params={"state": state, "error": "x"})
    query = query_of(callback.headers["location"])
    assert query["error"] == "access_denied" and query["state"] == login.state
