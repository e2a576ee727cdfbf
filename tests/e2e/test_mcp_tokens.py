"""What happens to the SDK client's tokens later: refresh with rotation, revocation, refusal by
the access policy at login, and loss of access when the IdP says the user left the group."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.e2e.conftest import BrowserFor, StackFor
from tests.e2e.mcp_client import LoginRefused, Session, mcp_session
from tests.e2e.stack import ALLOWED_GROUP, Stack

pytestmark = pytest.mark.gateway


def expire_now(session: Session) -> None:
    # The SDK refreshes when its own clock says the access token expired: move that clock
    # instead of sleeping through accessTokenTTL.
    session.auth.context.token_expiry_time = time.time() - 1


def refusal_page(caught: pytest.ExceptionInfo[ExceptionGroup[LoginRefused]]) -> httpx.Response:
    refused = caught.value.exceptions[0]
    assert isinstance(refused, LoginRefused)
    return refused.response


def raw_client(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.origin(), trust_env=False, timeout=10)


async def test_refresh_after_expiry_rotates_the_refresh_token(
    stack_for: StackFor, browser_for: BrowserFor
) -> None:
    """An expired token is refreshed; the old refresh token then fails and ends the grant."""
    stack = stack_for("traefik")
    browser = browser_for(stack, "erin")
    async with mcp_session(stack.mcp_url(), browser) as session:
        await session.call("whoami")
        before = session.storage.tokens
        mark = len(browser.recorder.seen)
        expire_now(session)
        me = await session.call("whoami")
        after = session.storage.tokens
    assert me["user"] == "erin"
    steps = [s.step for s in browser.recorder.seen[mark:]]
    assert steps[:2] == ["POST /token 200", "POST /mcp 200"], steps
    assert before is not None and after is not None and session.storage.client_info is not None
    assert before.refresh_token and after.refresh_token
    assert after.refresh_token != before.refresh_token
    assert after.access_token != before.access_token
    form = {
        "grant_type": "refresh_token",
        "refresh_token": before.refresh_token,
        "client_id": str(session.storage.client_info.client_id),
    }
    async with raw_client(stack) as http:
        reuse = await http.post("/token", data=form)
        # Reuse of a rotated token means it was stolen: the whole grant is revoked.
        probe = await http.post("/mcp", headers={"Authorization": f"Bearer {after.access_token}"})
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert probe.status_code == 401


async def test_revoked_grant_gets_401_on_the_next_call(
    stack_for: StackFor, browser_for: BrowserFor
) -> None:
    """After /revoke the next MCP call gets 401, and the client signs in again. The SDK asks
    with prompt=consent, so the approval page is shown again rather than remembered."""
    stack = stack_for("envoy")
    browser = browser_for(stack, "frank")
    async with mcp_session(stack.mcp_url(), browser) as session:
        await session.call("whoami")
        tokens, client = session.storage.tokens, session.storage.client_info
        assert tokens is not None and tokens.refresh_token and client is not None
        form = {"token": tokens.refresh_token, "client_id": str(client.client_id)}
        async with raw_client(stack) as http:
            assert (await http.post("/revoke", data=form)).status_code == 200
        mark = len(browser.recorder.seen)
        me = await session.call("whoami")
    assert me["user"] == "frank"
    again = [s for s in browser.recorder.seen[mark:] if s.url.startswith(stack.origin() + "/")]
    assert again[0].step == "POST /mcp 401"
    assert again[0].challenge is not None and 'error="invalid_token"' in again[0].challenge
    steps = [s.step for s in again]
    assert "GET /authorize 303" in steps and steps[-1] == "POST /mcp 200", steps
    assert len(browser.consent_pages) == 2  # prompt=consent: asked again, not remembered


@pytest.mark.parametrize(
    ("user", "email", "groups", "reason"),
    [
        ("mallory", "mallory@example.test", ["other"], "not in any of the groups allowed here"),
        ("eve", "eve@elsewhere.test", [ALLOWED_GROUP], "accounts from elsewhere.test are not"),
    ],
    ids=["group", "domain"],
)
async def test_user_outside_the_policy_sees_the_refusal_and_gets_no_token(
    stack_for: StackFor,
    browser_for: BrowserFor,
    user: str,
    email: str,
    groups: list[str],
    reason: str,
) -> None:
    """A user outside allowedGroups or allowedEmailDomains gets the refusal page, no code."""
    stack = stack_for("envoy")
    stack.idp.set_account(user, email=email, email_verified=True, groups=groups)
    browser = browser_for(stack, user, allowed=False)
    with pytest.RaisesGroup(LoginRefused, flatten_subgroups=True) as caught:
        async with mcp_session(stack.mcp_url(), browser):
            pass
    page = refusal_page(caught)
    assert page.status_code == 403 and page.url.path == "/callback"
    assert reason in page.text
    steps = browser.recorder.steps(stack.origin())
    assert steps[-1] == "GET /callback 403"
    assert browser.result is None and not browser.consent_pages
    assert not [step for step in steps if step.startswith(("POST /token", "GET /consent"))]


async def test_user_removed_from_the_group_loses_access_at_the_next_recheck(
    stack_for: StackFor, browser_for: BrowserFor
) -> None:
    """Once the IdP drops the user from the group, the next refresh is refused and so is login."""
    stack = stack_for("traefik")
    browser = browser_for(stack, "grace")
    with pytest.RaisesGroup(LoginRefused, flatten_subgroups=True) as caught:
        async with mcp_session(stack.mcp_url(), browser) as session:
            assert (await session.call("whoami"))["groups"] == ALLOWED_GROUP
            old = session.storage.tokens
            mark = len(browser.recorder.seen)
            stack.idp.set_account("grace", email="grace@example.test", email_verified=True)
            await asyncio.sleep(1.2)  # past recheckInterval (1s): this refresh asks the IdP
            expire_now(session)
            await session.call("whoami")
    assert "groups allowed here" in refusal_page(caught).text
    steps = [s.step for s in browser.recorder.seen[mark:] if s.url.startswith(stack.origin())]
    # Refresh refused; the SDK drops its tokens, is challenged, and the new login is refused.
    assert steps[:2] == ["POST /token 400", "POST /mcp 401"], steps
    assert steps[-1] == "GET /callback 403", steps
    assert old is not None
    async with raw_client(stack) as http:
        probe = await http.post("/mcp", headers={"Authorization": f"Bearer {old.access_token}"})
    assert probe.status_code == 401  # the grant's access token went with it
