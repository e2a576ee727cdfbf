"""What real MCP clients send: Claude Code's metadata document and ephemeral localhost port,
``resource`` with or without a trailing slash, ``prompt=consent`` and ``prompt=none``, and
redirect URIs written so that URL parsers disagree on where they go."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.oauth.clients.models import ClientMetadata, RegisteredClient
from mcp_gatekeeper.services import Services
from tests.flows.driver import REDIRECT_URI, Driver, query_of
from tests.support import START, config_dict, mint, running
from tests.tls import HttpsServer, Reply, make_pki

A = "a.example.test"
RESOURCE = f"https://{A}/mcp"
CLAUDE_CODE_PATH = "/oauth/claude-code-client-metadata"
# The ports Claude Code's callback listener gets from the OS: a new one on every sign-in.
EPHEMERAL = "http://localhost:53682/callback"
ALLOW_SUBDOMAINS = r"https://[^/]+\.example\.com/cb"


@pytest.fixture
def documents(tmp_path: Path) -> Iterator[tuple[HttpsServer, Config]]:
    """An https server for client metadata documents, and a config that trusts its CA."""
    pki = make_pki(tmp_path)
    with HttpsServer(pki) as server:
        settings = config_dict(allowedRedirectURLs=[ALLOW_SUBDOMAINS, r"http://.*"]) | {
            "clients": {
                "metadataDocuments": {"allowPrivateAddresses": True, "caFile": str(pki.ca_file)}
            }
        }
        yield server, Config.model_validate(settings)


def publish(server: HttpsServer, path: str, **document: Any) -> str:
    url = f"https://127.0.0.1:{server.port}{path}"
    body = json.dumps({"client_id": url, **document}).encode()
    server.routes[path] = Reply(body=body, headers={"Content-Type": "application/json"})
    return url


@pytest.fixture
async def world(
    documents: tuple[HttpsServer, Config],
) -> AsyncIterator[tuple[HttpsServer, FastAPI, Driver]]:
    server, config = documents
    async with running(config, base_url=f"https://{A}") as (app, client):
        yield server, app, Driver(client)


async def test_claude_code_signs_in_on_an_ephemeral_localhost_port(
    world: tuple[HttpsServer, FastAPI, Driver],
) -> None:
    """Its document lists port-less localhost and 127.0.0.1 callbacks; it asks for
    ``http://localhost:<port>/callback``, and gets a code there and a token for the server."""
    server, _app, driver = world
    client_id = publish(
        server,
        CLAUDE_CODE_PATH,
        client_name="Claude Code",
        client_uri="https://claude.ai",
        redirect_uris=["http://localhost/callback", "http://127.0.0.1/callback"],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    response, login = await driver.authorize(client_id, redirect_uri=EPHEMERAL)
    assert response.status_code == 303, response.text
    page = await driver.sign_in(response)
    assert page.status_code == 200 and "Claude Code" in page.text
    assert "localhost:53682" in page.text
    back = await driver.answer_consent(page, "approve")
    assert back.status_code == 303
    location = back.headers["location"]
    assert location.startswith(EPHEMERAL + "?")
    code = query_of(location)["code"]
    tokens = await driver.exchange(code, login)
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == RESOURCE and claims["client_id"] == client_id
    assert tokens.json()["refresh_token"]


async def test_the_redirect_at_the_token_endpoint_must_be_the_port_that_was_used(
    world: tuple[HttpsServer, FastAPI, Driver],
) -> None:
    """The port may vary between sign-ins, never between /authorize and /token."""
    server, _app, driver = world
    redirect_uris = ["http://localhost/callback"]
    client_id = publish(server, CLAUDE_CODE_PATH, client_name="CC", redirect_uris=redirect_uris)
    response, login = await driver.authorize(client_id, redirect_uri=EPHEMERAL)
    back = await driver.answer_consent(await driver.sign_in(response), "approve")
    code = query_of(back.headers["location"])["code"]
    login.redirect_uri = "http://localhost:53683/callback"
    tokens = await driver.exchange(code, login)
    assert tokens.status_code == 400 and tokens.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:53682/callback",
        "http://localhost:53682/other",
        "https://localhost/callback",
    ],
    ids=["other-host", "other-path", "other-scheme"],
)
async def test_only_the_localhost_port_may_vary(
    world: tuple[HttpsServer, FastAPI, Driver], redirect_uri: str
) -> None:
    """Host, path and scheme stay exact: a page, never a redirect."""
    server, _app, driver = world
    client_id = publish(
        server, CLAUDE_CODE_PATH, client_name="CC", redirect_uris=["http://localhost/callback"]
    )
    response, _login = await driver.authorize(client_id, redirect_uri=redirect_uri)
    assert response.status_code == 400 and "location" not in response.headers
    assert "not one this client registered" in response.text


async def test_a_port_pinned_by_the_allow_list_holds_at_authorize() -> None:
    """allowedRedirectURLs names one localhost port: another port of the same registered URI
    is refused at /authorize, although loopback ports may vary otherwise."""
    settings = config_dict(allowedRedirectURLs=[r"http://localhost:33418/cb"])
    async with running(Config.model_validate(settings)) as (_app, client):
        driver = Driver(client)
        registered = await driver.register(redirect_uris=["http://localhost:33418/cb"])
        pinned, _ = await driver.authorize(
            registered["client_id"], redirect_uri="http://localhost:33418/cb"
        )
        other, _ = await driver.authorize(
            registered["client_id"], redirect_uri="http://localhost:4444/cb"
        )
    assert pinned.status_code in (302, 303)
    assert other.status_code == 400 and "location" not in other.headers
    assert "allowedRedirectURLs" in other.text


# An allow-list pattern for subdomains of example.com accepts this, and the consent page would
# show "attacker.test\.example.com"; a browser reads the backslash as "/" and goes to
# attacker.test.
SNEAKY = "https://attacker.test\\.example.com/cb"


async def test_registration_refuses_a_backslash_an_allow_list_pattern_accepts(
    world: tuple[HttpsServer, FastAPI, Driver],
) -> None:
    """invalid_redirect_uri, and the reason names the backslash."""
    _server, _app, driver = world
    ok = await driver.client.post(
        "/register", json={"redirect_uris": ["https://app.example.com/cb"]}, headers={"host": A}
    )
    assert ok.status_code == 201, ok.text
    for uri in (SNEAKY, "https://attacker.test%5C.example.com/cb"):
        response = await driver.client.post(
            "/register", json={"redirect_uris": [uri]}, headers={"host": A}
        )
        assert response.status_code == 400, uri
        assert response.json()["error"] == "invalid_redirect_uri"


async def test_a_metadata_document_with_such_a_redirect_uri_is_refused(
    world: tuple[HttpsServer, FastAPI, Driver],
) -> None:
    """The document's client gets a page naming the problem, and nobody is redirected."""
    server, _app, driver = world
    client_id = publish(server, "/sneaky.json", client_name="Sneaky", redirect_uris=[SNEAKY])
    response, _login = await driver.authorize(client_id, redirect_uri=SNEAKY)
    assert response.status_code == 400 and "location" not in response.headers
    assert "backslash" in response.text


async def test_a_client_registered_before_the_rule_is_not_redirected(
    world: tuple[HttpsServer, FastAPI, Driver],
) -> None:
    """A stored client may still hold such a URI: /authorize refuses it with a page."""
    _server, app, driver = world
    oauth: Services = app.state.services
    metadata = ClientMetadata(redirect_uris=[SNEAKY], token_endpoint_auth_method="none")
    old = RegisteredClient(client_id="old", client_id_issued_at=int(START), metadata=metadata)
    await oauth.clients.save(old)
    response, _login = await driver.authorize("old", redirect_uri=SNEAKY)
    assert response.status_code == 400 and "location" not in response.headers
    assert "not a plain URL" in response.text


@pytest.fixture
async def driver() -> AsyncIterator[Driver]:
    async with running(Config.model_validate(config_dict()), base_url=f"https://{A}") as (_, c):
        yield Driver(c)


@pytest.mark.parametrize(
    ("at_authorize", "at_token", "at_refresh"),
    [
        (RESOURCE + "/", RESOURCE, RESOURCE),
        (RESOURCE, RESOURCE + "/", RESOURCE + "/"),
        (RESOURCE + "/", RESOURCE + "/", RESOURCE + "/"),
    ],
    ids=["slash-at-authorize", "slash-at-token", "slash-everywhere"],
)
async def test_resource_with_or_without_a_trailing_slash(
    driver: Driver, at_authorize: str, at_token: str, at_refresh: str
) -> None:
    """Accepted at each step; every token names the canonical resource."""
    client = await driver.register()
    code, login = await driver.code_for(client["client_id"], resource=at_authorize)
    tokens = await driver.exchange(code, login, {"resource": at_token})
    assert tokens.status_code == 200, tokens.text
    refreshed = await driver.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens.json()["refresh_token"],
            "client_id": client["client_id"],
            "resource": at_refresh,
        }
    )
    assert refreshed.status_code == 200, refreshed.text
    for body in (tokens.json(), refreshed.json()):
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["aud"] == RESOURCE


async def test_a_server_at_the_root_is_named_with_or_without_its_slash() -> None:
    """A host served at ``/`` has the resource ``https://host/``; ``https://host`` names it too."""
    config = Config.model_validate(config_dict(hosts=[{"host": A, "path": "/"}]))
    async with running(config, base_url=f"https://{A}") as (_app, client):
        driver = Driver(client)
        registered = await driver.register()
        code, login = await driver.code_for(registered["client_id"], resource=f"https://{A}")
        tokens = await driver.exchange(code, login, {"resource": f"https://{A}/"})
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == f"https://{A}/"


@pytest.mark.parametrize("resource", [RESOURCE + "//", RESOURCE + "x", f"https://b.{A[2:]}/mcp/"])
async def test_another_resource_is_still_refused_at_the_token_endpoint(
    driver: Driver, resource: str
) -> None:
    """Only one trailing slash is forgiven: anything else is another resource."""
    client = await driver.register()
    code, login = await driver.code_for(client["client_id"])
    tokens = await driver.exchange(code, login, {"resource": resource})
    assert tokens.status_code == 400 and tokens.json()["error"] == "invalid_target"


async def test_prompt_consent_shows_the_page_even_when_approved_before(driver: Driver) -> None:
    """The Python SDK sends prompt=consent on every sign-in: the page is shown each time."""
    client = await driver.register()
    await driver.code_for(client["client_id"])
    again, _login = await driver.authorize(client["client_id"])
    remembered = await driver.sign_in(again)
    assert remembered.status_code == 303
    assert remembered.headers["location"].startswith(REDIRECT_URI)
    asked, _login = await driver.authorize(client["client_id"], prompt="consent")
    page = await driver.sign_in(asked)
    assert page.status_code == 200 and "Allow" in page.text
    back = await driver.answer_consent(page, "approve")
    assert back.status_code == 303 and "code" in query_of(back.headers["location"])


async def test_prompt_none_is_answered_without_a_page(driver: Driver) -> None:
    """OIDC: login_required at the client's redirect URI (with state and iss), no login page."""
    client = await driver.register()
    response, login = await driver.authorize(client["client_id"], prompt="none")
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith(REDIRECT_URI)
    query = query_of(response.headers["location"])
    assert query["error"] == "login_required" and query["state"] == login.state
    assert query["iss"] == f"https://{A}"


async def test_prompt_none_with_another_prompt_is_an_invalid_request(driver: Driver) -> None:
    """OIDC Core §3.1.2.1: none must stand alone."""
    client = await driver.register()
    response, _login = await driver.authorize(client["client_id"], prompt="none consent")
    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_refusals_at_the_gate_say_what_to_do() -> None:
    """The 401s and the step-up 403 tell the person to reconnect or approve, naming the
    permissions: the only thing clients such as mcp-remote show of a refusal."""
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get"}}
    config = Config.model_validate(config_dict())
    async with running(config, base_url=f"https://{A}") as (app, client):
        bearer = {"host": A, "authorization": f"Bearer {mint(app, A, scopes=())}"}
        answers = [
            await client.get("/authenticate/mcp", headers={"host": A}),
            await client.get(
                "/authenticate/mcp", headers={"host": A, "authorization": "Bearer nonsense"}
            ),
            await client.post("/authenticate/mcp", json=call, headers=bearer),
        ]
    assert [answer.status_code for answer in answers] == [401, 401, 403]
    missing, invalid, step_up = (answer.json()["error_description"] for answer in answers)
    assert "Sign-in required" in missing and "reconnect" in missing
    assert "expired" in invalid and "reconnect" in invalid
    assert "does not allow get" in step_up and "approve" in step_up and ": read" in step_up
