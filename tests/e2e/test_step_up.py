"""Per-tool step-up with the real MCP SDK client through real gateways.

The host offers only ``notes:read`` up front (``baseScopes``), so the 401 challenge, and with it
the SDK's authorization request, names just that scope: this is how a client ends up with a
read-only token in practice (the SDK overwrites any ``scope`` of its client metadata with the
challenge's). A write tool then gets 403 ``insufficient_scope`` naming the granted plus the
missing scope; the SDK authorizes again with the union, the user sees the consent page for it,
and the write goes through. The gateways: Envoy with the body and ``Mcp-*`` headers in the check
request, Traefik (client headers, no body) and nginx as ingress-nginx renders it with the
``error_page 403`` workaround that keeps the challenge.

The SDK (mcp 2.3) speaks 2026-07-28 and sends ``Mcp-Method`` / ``Mcp-Name`` on every POST, so
gateways that forward client headers suffice; ``toolPolicy: strict`` is for clients that do not.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mcp_gatekeeper.probe.resource import bearer_params
from tests.e2e.conftest import BrowserFor
from tests.e2e.mcp_client import HeadlessBrowser, Seen, mcp_session
from tests.e2e.stack import HOST_A, HOST_B, HostSettings, Stack, run_custom_stack
from tests.flows.driver import ticked_scopes
from tests.integration.harness import GatewayOptions
from tests.support import mint
from tests.tls import Pki

pytestmark = pytest.mark.gateway

READ, WRITE = "notes:read", "notes:write"
#: HOST_A offers notes:read up front (enforce); HOST_B offers both and is strict.
HOST_SETTINGS: HostSettings = {HOST_A: {"baseScopes": [READ]}, HOST_B: {"toolPolicy": "strict"}}


@dataclass(frozen=True)
class Variant:
    gateway: str
    options: GatewayOptions | None = None


VARIANTS = {
    # Envoy Gateway bodyToExtAuth + headersToExtAuth: the service sees headers and body.
    "envoy-body": Variant("envoy", GatewayOptions(forward_body=True, mcp_headers=True)),
    # Traefik ForwardAuth as usually deployed: client headers, no body, GET /authenticate.
    "traefik": Variant("traefik"),
    "traefik-body": Variant("traefik", GatewayOptions(forward_body=True)),
    # auth-url: client headers, never the body; 403 + WWW-Authenticate needs the snippet.
    "ingress-nginx": Variant("ingress-nginx"),
}


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[dict[str, Stack]]:
    """The stacks of this module by variant, each started when a test first needs it."""
    with ExitStack() as running:

        class Lazy(dict[str, Stack]):
            def __missing__(self, name: str) -> Stack:
                variant = VARIANTS[name]
                workdir = tmp_path_factory.mktemp(f"step-up-{name}")
                stack = running.enter_context(
                    run_custom_stack(
                        variant.gateway,
                        workdir,
                        pki.ca_file,
                        options=variant.options,
                        host_settings=HOST_SETTINGS,
                    )
                )
                self[name] = stack
                return stack

        yield Lazy()


def param(challenge: str | None, name: str) -> str | None:
    return bearer_params(challenge or "").get(name)


def authorize_scopes(browser: HeadlessBrowser, origin: str) -> list[str]:
    """The ``scope`` of each /authorize request the SDK sent, in order."""
    return [
        parse_qs(urlsplit(s.url).query)["scope"][0]
        for s in browser.recorder.seen
        if s.url.startswith(origin + "/authorize?")
    ]


def mcp_posts(seen: list[Seen], origin: str) -> list[Seen]:
    return [s for s in seen if s.method == "POST" and s.url == origin + "/mcp"]


@pytest.mark.parametrize("variant", ["envoy-body", "traefik", "ingress-nginx"])
async def test_read_only_token_steps_up_to_write_through_the_gateway(
    stacks: dict[str, Stack], browser_for: BrowserFor, variant: str
) -> None:
    """Read works, write gets 403 insufficient_scope, the SDK re-consents with both, write works."""
    stack = stacks[variant]
    browser = browser_for(stack, f"step-{variant}")
    origin = stack.origin(HOST_A)
    title = f"from-{variant}"
    async with mcp_session(stack.mcp_url(HOST_A), browser) as session:
        assert "welcome" in (await session.call("list_notes"))["result"]
        first = session.storage.tokens
        mark = len(browser.recorder.seen)
        await session.call("add_note", title=title, text="written after step-up")
        me = await session.call("whoami")
        notes = await session.call("list_notes")
    assert first is not None and first.scope is not None and first.scope.split() == [READ]
    assert title in notes["result"]
    assert me["scopes"] == f"{READ} {WRITE}"
    # The first challenge offered only the base scope; the page preselected it, not write.
    assert param(browser.recorder.seen[0].challenge, "scope") == READ
    assert ticked_scopes(browser.consent_pages[0]) == [READ]
    assert f'value="{WRITE}"' in browser.consent_pages[0]
    # The step-up: 403 with the challenge, authorization with the union, consent, token, retry.
    later = browser.recorder.seen[mark:]
    steps = [s.step for s in later if s.url.startswith(origin + "/")]
    assert steps[:7] == [
        "POST /mcp 403",
        "GET /authorize 303",
        "GET /callback 303",
        "GET /consent 200",
        "POST /consent 303",
        "POST /token 200",
        "POST /mcp 200",
    ], steps
    refused = later[0]
    prm = f"{origin}/.well-known/oauth-protected-resource/mcp"
    assert refused.challenge == (
        f'Bearer error="insufficient_scope", resource_metadata="{prm}", scope="{READ} {WRITE}"'
    )
    assert refused.mcp_headers == (("mcp-method", "tools/call"), ("mcp-name", "add_note"))
    # The SDK negotiated 2026-07-28: every POST names its method, so headers alone identify tools.
    posts = mcp_posts(browser.recorder.seen, origin)
    assert posts and all(dict(s.mcp_headers).get("mcp-method") for s in posts), posts
    first_ask, step_up_ask = authorize_scopes(browser, origin)
    assert READ in first_ask.split() and WRITE not in first_ask.split()
    assert {READ, WRITE} <= set(step_up_ask.split())
    assert len(browser.consent_pages) == 2
    assert ticked_scopes(browser.consent_pages[1]) == [READ, WRITE]
    final = session.storage.tokens
    assert final is not None and final.scope is not None
    assert {READ, WRITE} <= set(final.scope.split())


async def test_user_who_unticked_write_is_asked_again_when_the_client_steps_up(
    stacks: dict[str, Stack], browser_for: BrowserFor
) -> None:
    """Write unticked at first consent: the step-up shows the page again instead of the memory."""
    stack = stacks["traefik"]
    browser = browser_for(stack, "unticker")
    origin = stack.origin(HOST_B)
    browser.untick = {WRITE}
    async with mcp_session(stack.mcp_url(HOST_B), browser) as session:
        await session.call("read_note", title="welcome")
        first = session.storage.tokens
        browser.untick = set()  # this time the person lets it write
        mark = len(browser.recorder.seen)
        saved = await session.call("add_note", title="second-thoughts", text="now allowed")
    assert first is not None and first.scope is not None and first.scope.split() == [READ]
    assert saved == {"result": "saved 'second-thoughts'"}
    # The client asked for both scopes both times: only the answer differed.
    asked = [set(scope.split()) for scope in authorize_scopes(browser, origin)]
    assert len(asked) == 2 and asked[0] == asked[1] and {READ, WRITE} <= asked[0]
    steps = [s.step for s in browser.recorder.seen[mark:] if s.url.startswith(origin + "/")]
    assert steps[0] == "POST /mcp 403" and "GET /consent 200" in steps, steps
    assert steps[-1] == "POST /mcp 200", steps
    assert len(browser.consent_pages) == 2


def legacy_message(method: str, params: dict[str, Any], ident: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": params}).encode()


INITIALIZE = legacy_message(
    "initialize",
    {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "legacy-client", "version": "1.0"},
    },
    1,
)
ADD_NOTE = legacy_message(
    "tools/call", {"name": "add_note", "arguments": {"title": "hidden", "text": "unchecked"}}, 2
)


def legacy_headers(token: str, session_id: str | None = None) -> dict[str, str]:
    """A client from before 2026-07-28: no Mcp-Method / Mcp-Name, a session after initialize."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    if session_id is not None:
        headers["Mcp-Session-Id"] = session_id
        headers["MCP-Protocol-Version"] = "2025-06-18"
    return headers


async def post(
    http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST, retried on a connection the gateway dropped mid-body (seen once on a loaded CI
    box); the decision under test is the status, which a transport hiccup says nothing about."""
    for attempt in range(3):
        try:
            return await http.post(url, content=body, headers=headers)
        except httpx.RemoteProtocolError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def oauth_error(response: httpx.Response) -> str:
    """The OAuth error code of a refusal answered to an MCP client as a JSON-RPC error."""
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["message"], body
    code: str = body["error"]["data"]["error"]
    return code


def read_token(stack: Stack, host: str, scopes: tuple[str, ...] = (READ,)) -> str:
    return mint(stack.app, f"{host}:{stack.gateway.port}", scopes=scopes, now=time.time())


async def test_a_client_that_hides_its_tool_cannot_write_with_a_read_token_without_a_body(
    stacks: dict[str, Stack],
) -> None:
    """Traefik sends no body and a legacy client no Mcp-*: a read-only token never gets a POST
    through (it could be the write). Enforce steps it up to every scope, saying why; a token
    with every scope passes, writes included; strict refuses the hidden POST outright."""
    stack = stacks["traefik"]
    url_a, url_b = stack.mcp_url(HOST_A), stack.mcp_url(HOST_B)
    full = read_token(stack, HOST_A, (READ, WRITE))
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        strict = await post(http, url_b, INITIALIZE, legacy_headers(read_token(stack, HOST_B)))
        stepped = await post(http, url_a, INITIALIZE, legacy_headers(read_token(stack, HOST_A)))
        allowed = await post(http, url_a, INITIALIZE, legacy_headers(full))
        session_id = allowed.headers.get("mcp-session-id")
        hidden_write = await post(http, url_a, ADD_NOTE, legacy_headers(full, session_id))
    assert strict.status_code == 403, strict.text
    # An MCP client (it accepts text/event-stream) gets the refusal as a JSON-RPC error whose
    # message is the description: what MCP SDKs show their users.
    assert oauth_error(strict) == "forbidden"
    assert "Mcp-Method/Mcp-Name" in strict.json()["error"]["message"]
    assert "www-authenticate" not in strict.headers
    assert stepped.status_code == 403, stepped.text
    prm = f"{stack.origin(HOST_A)}/.well-known/oauth-protected-resource/mcp"
    assert stepped.headers.get_list("www-authenticate") == [
        f'Bearer error="insufficient_scope", resource_metadata="{prm}", scope="{READ} {WRITE}"'
    ]
    assert "cannot be checked" in stepped.json()["error"]["message"]
    assert allowed.status_code == 200 and session_id, allowed.text
    assert hidden_write.status_code == 200 and "saved 'hidden'" in hidden_write.text


@pytest.mark.parametrize("variant", ["envoy-body", "traefik-body"])
async def test_strict_host_reads_the_tool_from_the_forwarded_body(
    stacks: dict[str, Stack], variant: str
) -> None:
    """With the body in the check, a client without Mcp-* passes strict but keeps to its scopes."""
    stack = stacks[variant]
    token = read_token(stack, HOST_B)
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        initialized = await post(http, stack.mcp_url(HOST_B), INITIALIZE, legacy_headers(token))
        session_id = initialized.headers.get("mcp-session-id")
        write = await post(http, stack.mcp_url(HOST_B), ADD_NOTE, legacy_headers(token, session_id))
    assert initialized.status_code == 200, initialized.text
    assert session_id
    assert write.status_code == 403, write.text
    prm = f"{stack.origin(HOST_B)}/.well-known/oauth-protected-resource/mcp"
    assert write.headers.get_list("www-authenticate") == [
        f'Bearer error="insufficient_scope", resource_metadata="{prm}", scope="{READ} {WRITE}"'
    ]
    assert oauth_error(write) == "insufficient_scope"


def modern_call(tool: str, **arguments: str) -> bytes:
    """A 2026-07-28 tools/call: the per-request envelope, no session."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw-client", "version": "1.0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": tool, "arguments": arguments, "_meta": meta}
    return legacy_message("tools/call", params, 3)


@pytest.mark.parametrize("variant", ["traefik", "ingress-nginx"])
async def test_a_base64_wrapped_tool_name_is_read_as_the_server_reads_it(
    stacks: dict[str, Stack], variant: str
) -> None:
    """Through a gateway that shows only headers: ``Mcp-Name: =?base64?…?=`` naming add_note is
    add_note to the notes server (it decodes before comparing with the body), so a read-only
    token is refused; a malformed wrapping is refused outright; the plain read tool passes."""
    stack = stacks[variant]
    url, token = stack.mcp_url(HOST_A), read_token(stack, HOST_A)

    def headers(name: str, bearer: str = token) -> dict[str, str]:
        return {
            **legacy_headers(bearer),
            "Mcp-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call",
            "Mcp-Name": name,
        }

    wrapped = "=?base64?" + base64.b64encode(b"add_note").decode() + "?="
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        note = modern_call("add_note", title="wrapped", text="x")
        write = await post(http, url, note, headers(wrapped))
        # Unpadded base64: the SDK refuses it, so even a token for every tool is refused.
        full = read_token(stack, HOST_A, (READ, WRITE))
        broken = await post(http, url, note, headers(wrapped.replace("=?=", "?="), full))
        read = await post(http, url, modern_call("list_notes"), headers("list_notes"))
    assert write.status_code == 403, write.text
    assert f'scope="{READ} {WRITE}"' in write.headers["www-authenticate"]
    assert broken.status_code == 403 and "www-authenticate" not in broken.headers
    assert read.status_code == 200, read.text
