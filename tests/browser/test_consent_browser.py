"""The consent page in a real browser: a person signs in with the demo login, picks scopes with
the mouse or the keyboard, on a desktop or a phone; the page stays inert with hostile names and
descriptions and cannot be framed.

mcp-gatekeeper runs in-process under uvicorn with two loopback MCP hosts (http is allowed there,
so the login cookie works): ``127.0.0.1:PORT`` with ordinary scopes and ``localhost:PORT`` with
hostile ones, each also learning a scope from a real MCP server's ``tools/list``. The test plays
the MCP client over HTTP (registration, PKCE, code exchange); Chromium plays the person.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from mcp_gatekeeper.config import Config
from tests.flows.driver import pkce_pair
from tests.integration.harness import free_port
from tests.integration.harness.upstream import QuietHandler, serve_in_thread, server_port
from tests.integration.service import Service, running_service
from tests.mcp_servers import Variant, serve_mcp

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Dialog,
        Page,
        ViewportSize,
    )

CLEAN, HOSTILE = "127.0.0.1", "localhost"
READ, WRITE, SHARE = "notes:read", "notes:write", "notes:share"
NOTES_SCOPES = [
    {"name": READ, "description": "Read your notes", "tools": ["list_notes", "read_note"]},
    {"name": WRITE, "description": "Add and delete notes", "tools": ["add_note", "delete_note"]},
]
#: Learnt from the clean host's MCP server (tools/list ``_meta.scopes``).
SHARED = {"name": SHARE, "description": "Share notes with your team", "tools": ["share_note"]}
CLIENT_XSS = 'Notes <script>alert("name")</script><img src=x onerror=alert("img")>'
CONFIG_XSS = '<img src=x onerror=alert("config")> Read <b>everything</b>'
DISCOVERED_XSS = '<svg onload=alert("discovered")></svg><script>alert("d2")</script>'
EVIL_TOOL = '<iframe src="javascript:alert(3)">'
EVIL_NAME = "notes:<u>admin</u>"
#: Learnt from the hostile host's MCP server: markup in the name, description and a tool.
EVIL_DISCOVERED = {"name": EVIL_NAME, "description": DISCOVERED_XSS, "tools": [EVIL_TOOL]}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Gatekeeper:
    service: Service
    #: The MCP client's loopback server: its redirect URI, and a page of another origin.
    client: str
    #: Every URL the browser brought to the client's /callback.
    callbacks: list[str]

    def origin(self, host: str) -> str:
        return f"http://{host}:{self.service.port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.client}/callback"


def client_site(callbacks: list[str]) -> type[QuietHandler]:
    """The client's own pages: its OAuth callback, and (playing an attacker site) a page that
    frames a URL next to a frameable control page."""

    class Site(QuietHandler):
        def answer(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/callback":
                callbacks.append(self.path)
                body = "<p>back at the client</p>"
            elif url.path == "/frame":
                target = html.escape(parse_qs(url.query)["src"][0])
                body = (
                    f'<iframe id="target" src="{target}"></iframe>'
                    '<iframe id="control" src="/frameable"></iframe>'
                )
            else:
                body = "<p>framed fine</p>"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Site


@pytest.fixture(scope="module")
def gatekeeper() -> Iterator[Gatekeeper]:
    """The service with the demo login, and one real scope-advertising MCP server per host."""
    clean_meta = {"scopes": [SHARED]}
    hostile_meta = {"scopes": [EVIL_DISCOVERED]}
    callbacks: list[str] = []
    with (
        serve_mcp(Variant(page_meta=(clean_meta,))) as clean_mcp,
        serve_mcp(Variant(page_meta=(hostile_meta,))) as hostile_mcp,
        serve_in_thread(client_site(callbacks)) as site,
    ):
        port = free_port()
        hostile_scopes = [{"name": "notes:all", "description": CONFIG_XSS, "tools": ["x"]}]
        config = Config.model_validate(
            {
                "proxy": {
                    "hosts": [
                        {
                            "host": f"{CLEAN}:{port}",
                            "scopes": NOTES_SCOPES,
                            "endpoint": clean_mcp.url,
                        },
                        {
                            "host": f"{HOSTILE}:{port}",
                            "scopes": hostile_scopes,
                            "endpoint": hostile_mcp.url,
                        },
                    ]
                },
                "server": {"host": "127.0.0.1", "port": port},
            }
        )
        with running_service(config, port) as service:
            yield Gatekeeper(service, f"http://127.0.0.1:{server_port(site)}", callbacks)


@dataclass
class Login:
    """One authorization request of the client, and where the browser ended up."""

    origin: str
    client_id: str
    verifier: str
    state: str
    url: str
    redirect_uri: str
    callbacks: list[str]

    def answer(self) -> dict[str, str]:
        """The query the browser brought back to the client for this login."""
        mine = [
            u for u in self.callbacks if parse_qs(urlsplit(u).query).get("state") == [self.state]
        ]
        assert len(mine) == 1, f"the browser did not come back to the client once: {mine}"
        return {key: values[0] for key, values in parse_qs(urlsplit(mine[0]).query).items()}


def start_login(gk: Gatekeeper, host: str, client_name: str, scope: str) -> Login:
    """Register a client over HTTP and build its /authorize URL (PKCE, state, resource)."""
    origin = gk.origin(host)
    metadata = {
        "client_name": client_name,
        "redirect_uris": [gk.redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    }
    response = httpx.post(f"{origin}/register", json=metadata, trust_env=False, timeout=10)
    assert response.status_code == 201, response.text
    client_id = response.json()["client_id"]
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": gk.redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "resource": f"{origin}/mcp",
        "scope": scope,
    }
    url = f"{origin}/authorize?{urlencode(query)}"
    return Login(origin, client_id, verifier, state, url, gk.redirect_uri, gk.callbacks)


def token_scopes(login: Login) -> list[str]:
    """Exchange the code the browser brought back; the access token's scopes."""
    form = {
        "grant_type": "authorization_code",
        "code": login.answer()["code"],
        "redirect_uri": login.redirect_uri,
        "client_id": login.client_id,
        "code_verifier": login.verifier,
        "resource": f"{login.origin}/mcp",
    }
    response = httpx.post(f"{login.origin}/token", data=form, trust_env=False, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["scope"] == body["scope"]
    return sorted(body["scope"].split())


def sign_in(page: Page, login: Login) -> None:
    """/authorize → the demo login page → its sign-in button → the consent page."""
    page.goto(login.url)
    page.get_by_role("button", name="Sign in as demo@example.com").click()
    page.wait_for_url(f"{login.origin}/consent?**")
    page.get_by_role("button", name="Allow").wait_for()


def checkbox(page: Page, scope: str) -> Any:
    return page.locator(f'input[type="checkbox"][name="scope"][value="{scope}"]')


def back_at_client(page: Page, login: Login) -> None:
    page.get_by_text("back at the client").wait_for()
    assert page.url.startswith(login.redirect_uri + "?")


def click_and_wait_for_client(page: Page, login: Login, button: str) -> None:
    page.get_by_role("button", name=button).click()
    back_at_client(page, login)


def test_token_carries_exactly_the_scopes_ticked_in_the_browser(
    gatekeeper: Gatekeeper, context: BrowserContext, artifacts: Path
) -> None:
    """Requested scopes come preselected; unticking one and ticking a discovered one decides."""
    page = context.new_page()
    login = start_login(gatekeeper, CLEAN, "Claude Desktop", f"{READ} {WRITE}")
    sign_in(page, login)
    assert [checkbox(page, s).is_checked() for s in (READ, WRITE, SHARE)] == [True, True, False]
    assert page.get_by_text("Share notes with your team").is_visible()
    page.screenshot(path=artifacts / "consent-desktop.png", full_page=True)
    checkbox(page, WRITE).uncheck()
    checkbox(page, SHARE).check()
    click_and_wait_for_client(page, login, "Allow")
    assert token_scopes(login) == sorted([READ, SHARE])


FOCUSED = """() => {
  const e = document.activeElement;
  const style = getComputedStyle(e);
  const ring = style.outlineStyle !== 'none' && style.outlineWidth !== '0px';
  const name = e.tagName === 'INPUT' ? 'checkbox ' + e.value : e.tagName.toLowerCase() + ' '
    + e.textContent.trim();
  return [name, ring];
}"""


def test_keyboard_alone_picks_scopes_and_approves(
    gatekeeper: Gatekeeper, context: BrowserContext
) -> None:
    """Tab reaches each checkbox, Space ticks, Tab reaches Allow, Enter approves; focus shows."""
    page = context.new_page()
    login = start_login(gatekeeper, CLEAN, "Keyboard Client", READ)
    sign_in(page, login)
    stops: list[tuple[str, bool]] = []

    def tab() -> str:
        page.keyboard.press("Tab")
        name, ring = page.evaluate(FOCUSED)
        stops.append((name, ring))
        return str(name)

    assert tab() == f"checkbox {READ}"
    assert tab() == f"checkbox {WRITE}"
    page.keyboard.press("Space")
    assert checkbox(page, WRITE).is_checked()
    assert [tab(), tab(), tab()] == [f"checkbox {SHARE}", "button Deny", "button Allow"]
    page.keyboard.press("Enter")
    back_at_client(page, login)
    assert all(ring for _, ring in stops), f"a focused element has no visible focus ring: {stops}"
    assert token_scopes(login) == sorted([READ, WRITE])


OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5)
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
  return [document.documentElement.scrollWidth, width, wide];
}"""


def test_phone_viewport_shows_the_page_without_horizontal_scrolling(
    gatekeeper: Gatekeeper, chromium: Browser, artifacts: Path
) -> None:
    """At 390x844 nothing sticks out sideways and the buttons stay on screen and tappable."""
    context = chromium.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        long_name = "Notes assistant for the whole engineering organisation (beta)"
        login = start_login(gatekeeper, CLEAN, long_name, f"{READ} {WRITE}")
        sign_in(page, login)
        page.screenshot(path=artifacts / "consent-phone.png", full_page=True)
        scroll_width, width, wide = page.evaluate(OVERFLOWING)
        assert width == PHONE["width"]
        assert scroll_width <= width and not wide, (scroll_width, width, wide)
        allow = page.get_by_role("button", name="Allow").bounding_box()
        assert allow is not None and allow["height"] >= 44 and allow["x"] + allow["width"] <= width
        page.get_by_role("button", name="Allow").tap()
        back_at_client(page, login)
        assert token_scopes(login) == sorted([READ, WRITE])
    finally:
        context.close()


def test_hostile_client_name_and_scope_descriptions_stay_inert_text(
    gatekeeper: Gatekeeper, context: BrowserContext, artifacts: Path
) -> None:
    """Markup in the client name, a configured and a discovered scope is shown, never run."""
    page = context.new_page()
    dialogs: list[str] = []
    console: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        console.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    login = start_login(gatekeeper, HOSTILE, CLIENT_XSS, f"notes:all {EVIL_NAME}")
    sign_in(page, login)
    page.screenshot(path=artifacts / "consent-hostile.png", full_page=True)
    text = page.locator("main").inner_text()
    for literal in (CLIENT_XSS, CONFIG_XSS, DISCOVERED_XSS, EVIL_NAME, EVIL_TOOL):
        assert literal in text, f"{literal!r} is not shown as text"
    injected = page.locator("main script, main img, main svg, main iframe, main u, main b")
    # The only <b> elements are the page's own labels (client, host, facts).
    own_bold = page.locator("main h1 b, main .facts b").count()
    assert injected.count() == own_bold
    assert checkbox(page, EVIL_NAME).is_checked()
    click_and_wait_for_client(page, login, "Allow")
    assert dialogs == []
    # Had anything been injected, the CSP would have refused to run it, and said so here.
    assert not [line for line in console if "Content Security Policy" in line], console
    assert token_scopes(login) == sorted(["notes:all", EVIL_NAME])


def test_consent_page_refuses_to_be_framed_by_another_origin(
    gatekeeper: Gatekeeper, context: BrowserContext
) -> None:
    """Framed by a page of another origin, the consent page does not render (clickjacking)."""
    page = context.new_page()
    login = start_login(gatekeeper, CLEAN, "Framed Client", READ)
    sign_in(page, login)
    consent_url = page.url
    headers = context.request.get(consent_url).headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    # The client's server is another origin (another port) of the same site, so the login
    # cookie goes along as it would for an attacker's page on the same registrable domain.
    framing = context.new_page()
    console: list[str] = []
    framing.on("console", lambda message: console.append(message.text))
    framing.goto(f"{gatekeeper.client}/frame?{urlencode({'src': consent_url})}")
    framing.frame_locator("#control").get_by_text("framed fine").wait_for()
    framing.wait_for_timeout(200)
    assert framing.frame_locator("#target").locator("form, button").count() == 0
    inner = [f.url for f in framing.frames if f.parent_frame is not None]
    assert consent_url not in inner, inner
    # Chromium says why: "Framing '<origin>' violates ... "frame-ancestors 'none'" ... blocked."
    assert any("frame-ancestors 'none'" in line and "blocked" in line for line in console), console
    # The page itself still works in its own tab.
    click_and_wait_for_client(page, login, "Allow")
    assert token_scopes(login) == [READ]


def test_deny_sends_the_client_access_denied(
    gatekeeper: Gatekeeper, context: BrowserContext
) -> None:
    """Deny goes back to the client with error=access_denied and the state, and no code."""
    page = context.new_page()
    login = start_login(gatekeeper, CLEAN, "Denied Client", f"{READ} {WRITE}")
    sign_in(page, login)
    click_and_wait_for_client(page, login, "Deny")
    answer = login.answer()
    assert answer["error"] == "access_denied" and "code" not in answer
    assert answer["iss"] == login.origin
