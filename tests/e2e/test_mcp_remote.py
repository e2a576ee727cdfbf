"""mcp-remote, the bridge most desktop clients use to reach a remote MCP server, signs in through a
real stack (Traefik forwarding the body, mcp-gatekeeper, the npm OpenID provider, the notes
server) and calls the notes tools; a read-only grant cannot write.

The host offers only ``notes:read`` up front (``baseScopes``), so the first sign-in asks for it
alone, as in tests/e2e/test_step_up.py. A write then gets 403 ``insufficient_scope`` and
mcp-remote starts a step-up sign-in for read and write: where the person allows write the note is
saved, where they untick it again the call ends in a JSON-RPC error (mcp-remote reports it as
"Unauthorized", whatever the server's ``error_description`` says) and nothing is saved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import BrowserFor
from tests.e2e.mcp_client import HeadlessBrowser
from tests.e2e.mcp_remote import McpRemote, mcp_remote
from tests.e2e.stack import HOST_A, Stack, run_custom_stack
from tests.flows.driver import ticked_scopes
from tests.integration.harness import GatewayOptions
from tests.tls import Pki

pytestmark = pytest.mark.gateway

READ, WRITE = "notes:read", "notes:write"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Stack]:
    with run_custom_stack(
        "traefik",
        tmp_path_factory.mktemp("mcp-remote"),
        pki.ca_file,
        # mcp-remote speaks 2025 MCP (no Mcp-Name header): the body tells which tool is called.
        options=GatewayOptions(forward_body=True),
        host_settings={HOST_A: {"baseScopes": [READ]}},
    ) as running:
        yield running


def asked_scopes(authorization_url: str) -> set[str]:
    return set(parse_qs(urlsplit(authorization_url).query)["scope"][0].split())


async def signed_in_read_only(remote: McpRemote, browser: HeadlessBrowser, stack: Stack) -> None:
    """The desktop client starts; the person signs in and grants what is asked: read."""
    starting = asyncio.create_task(remote.initialize())
    first_url = await remote.sign_in(browser)
    assert first_url.startswith(stack.origin(HOST_A) + "/authorize?"), first_url
    assert READ in asked_scopes(first_url) and WRITE not in asked_scopes(first_url)
    assert (await starting)["serverInfo"]["name"]


async def test_signs_in_and_lists_the_notes(
    stack: Stack, browser_for: BrowserFor, tmp_path: Path
) -> None:
    """The login through the IdP and the consent page ends at mcp-remote; the tools answer."""
    browser = browser_for(stack, "desk-reader")
    config_dir = tmp_path / "mcp-auth"
    async with mcp_remote(stack.mcp_url(HOST_A), config_dir) as remote:
        await signed_in_read_only(remote, browser, stack)
        tools = await remote.request("tools/list")
        listed = await remote.call_tool("list_notes")
    assert {"list_notes", "add_note"} <= {tool["name"] for tool in tools["result"]["tools"]}
    assert listed["result"]["structuredContent"] == {"result": ["welcome"]}, listed
    steps = browser.recorder.steps(stack.origin(HOST_A))
    assert steps == [
        "GET /authorize 303",
        "GET /callback 303",
        "GET /consent 200",
        "POST /consent 303",
    ], steps
    assert ticked_scopes(browser.consent_pages[0]) == [READ]
    # Its tokens went to the directory it was given.
    assert list(config_dir.rglob("*tokens.json")), sorted(config_dir.rglob("*"))


async def test_read_only_grant_steps_up_and_the_write_is_saved_once_allowed(
    stack: Stack, browser_for: BrowserFor, tmp_path: Path
) -> None:
    """add_note with a read-only token: mcp-remote asks for read and write, the person allows
    it, and the same call goes through."""
    browser = browser_for(stack, "desk-writer")
    async with mcp_remote(stack.mcp_url(HOST_A), tmp_path / "mcp-auth") as remote:
        await signed_in_read_only(remote, browser, stack)
        writing = asyncio.create_task(remote.call_tool("add_note", title="allowed", text="ok"))
        step_up_url = await remote.sign_in(browser)
        written = await writing
        listed = await remote.call_tool("list_notes")
    assert {READ, WRITE} <= asked_scopes(step_up_url)
    assert ticked_scopes(browser.consent_pages[1]) == [READ, WRITE]
    assert written["result"]["structuredContent"] == {"result": "saved 'allowed'"}, written
    assert "allowed" in listed["result"]["structuredContent"]["result"]


async def test_write_refused_at_the_step_up_fails_and_saves_nothing(
    stack: Stack, browser_for: BrowserFor, tmp_path: Path
) -> None:
    """The person unticks write again at the step-up: the call ends in an error, not a result,
    and the note does not exist."""
    browser = browser_for(stack, "desk-declines")
    async with mcp_remote(stack.mcp_url(HOST_A), tmp_path / "mcp-auth") as remote:
        await signed_in_read_only(remote, browser, stack)
        browser.untick = {WRITE}
        writing = asyncio.create_task(remote.call_tool("add_note", title="refused", text="no"))
        step_up_url = await remote.sign_in(browser)
        written = await writing
        listed = await remote.call_tool("list_notes")
    assert {READ, WRITE} <= asked_scopes(step_up_url)
    assert "result" not in written and written["error"]["message"], written
    assert "refused" not in listed["result"]["structuredContent"]["result"], listed
