"""The real MCP SDK client logs in through a real gateway: registration, metadata documents, and
a token that is good for one MCP host only."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.conftest import BrowserFor, StackFor
from tests.e2e.mcp_client import REDIRECT_URI, mcp_session
from tests.e2e.stack import ALLOWED_GROUP, HOST_A, HOST_B
from tests.tls import HttpsServer, Reply

pytestmark = pytest.mark.gateway
GATEWAYS = ("traefik", "envoy")
ALL_SCOPES = "notes:read notes:write"


@pytest.mark.parametrize("gateway", GATEWAYS)
async def test_first_login_registers_and_reaches_the_mcp_server(
    stack_for: StackFor, browser_for: BrowserFor, gateway: str
) -> None:
    """401, discovery, registration, IdP login, consent and token, then tools with identity."""
    stack = stack_for(gateway)
    browser = browser_for(stack, "alice")
    async with mcp_session(stack.mcp_url(), browser) as session:
        tools = await session.client.list_tools()
        me = await session.call("whoami")
        await session.call("add_note", title=f"via-{gateway}", text="hello")
        notes = await session.call("list_notes")
    assert f"via-{gateway}" in notes["result"]
    assert {"list_notes", "read_note", "add_note", "delete_note"} <= {t.name for t in tools.tools}
    assert tools.meta is not None
    assert [scope["name"] for scope in tools.meta["scopes"]] == ALL_SCOPES.split()
    assert me == {
        "user": "alice",
        "email": "alice@example.test",
        "groups": ALLOWED_GROUP,
        "scopes": ALL_SCOPES,
        # Nobody acts for alice: she signed in herself (delegation sets it, test_delegation).
        "actor": "",
    }
    steps = browser.recorder.steps(stack.origin())
    assert steps[:10] == [
        "POST /mcp 401",
        "GET /.well-known/oauth-protected-resource/mcp 200",
        "GET /.well-known/oauth-authorization-server 200",
        "POST /register 201",
        "GET /authorize 303",
        "GET /callback 303",
        "GET /consent 200",
        "POST /consent 303",
        "POST /token 200",
        "POST /mcp 200",
    ], steps
    challenge = browser.recorder.seen[0].challenge or ""
    prm = re.search(r'resource_metadata="([^"]+)"', challenge)
    assert prm is not None and prm[1] == browser.recorder.seen[1].url
    assert any(s.url.startswith(stack.idp.issuer + "/auth?") for s in browser.recorder.seen)
    assert len(browser.consent_pages) == 1 and "e2e notes client" in browser.consent_pages[0]


async def test_login_with_a_client_id_metadata_document(
    stack_for: StackFor, browser_for: BrowserFor, documents: HttpsServer
) -> None:
    """With a metadata document URL as client_id the client skips registration and logs in."""
    stack = stack_for("traefik")
    path = "/clients/notes-e2e.json"
    url = f"https://127.0.0.1:{documents.port}{path}"
    document = {
        "client_id": url,
        "client_name": "Notes via metadata document",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    documents.routes[path] = Reply(
        body=json.dumps(document).encode(), headers={"Content-Type": "application/json"}
    )
    browser = browser_for(stack, "carol")
    async with mcp_session(stack.mcp_url(), browser, client_metadata_url=url) as session:
        me = await session.call("whoami")
    assert me["user"] == "carol"
    assert session.storage.client_info is not None
    assert session.storage.client_info.client_id == url
    steps = browser.recorder.steps(stack.origin())
    assert not [step for step in steps if step.startswith("POST /register")], steps
    assert "POST /token 200" in steps
    assert documents.hits[path] >= 1
    assert "Notes via metadata document" in browser.consent_pages[0]


async def test_token_for_one_host_is_refused_on_the_other(
    stack_for: StackFor, browser_for: BrowserFor
) -> None:
    """Host A's token gets 401 invalid_token on host B; the client then logs in for B anew."""
    stack = stack_for("envoy")
    browser = browser_for(stack, "dave")
    async with mcp_session(stack.mcp_url(HOST_A), browser) as session:
        await session.call("whoami")
    token_a = session.storage.tokens
    # The same storage on host B: the client presents host A's token there first.
    async with mcp_session(stack.mcp_url(HOST_B), browser, session.storage) as session_b:
        me = await session_b.call("whoami")
    assert me["user"] == "dave"
    on_b = [s for s in browser.recorder.seen if s.url.startswith(stack.origin(HOST_B) + "/")]
    assert on_b[0].step == "POST /mcp 401"
    assert on_b[0].challenge is not None and 'error="invalid_token"' in on_b[0].challenge
    assert "POST /register 201" in [s.step for s in on_b]  # credentials are bound to issuer A
    assert token_a is not None and session_b.storage.tokens is not None
    assert session_b.storage.tokens.access_token != token_a.access_token
