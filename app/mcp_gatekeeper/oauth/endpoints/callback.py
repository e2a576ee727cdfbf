"""GET /callback: the identity provider sends the browser back here after the login.

The ``state`` is single use and must come with the cookie of the browser that started the login.
The user is then checked against the access policy (instance and host) before the approval step.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ...edge import issuer_of
from ...errors import NotFound
from ...ops.audit import audit
from ...ops.tracing import oauth_step
from ...pages import render_page
from ...paths import CALLBACK_PATH, DEMO_LOGIN_PATH
from ...providers import LoginDenied, ProviderError
from ...providers.demo import DEMO_CODE
from ...responses import NO_STORE, page_security_headers, see_other
from ...services import Services, ServicesDep
from ..approvals import ask_consent
from ..errors import AccessDenied, AuthorizationRedirect, BrowserError, LoginRefused, RedirectTarget
from ..records import LoginTransaction, User
from .browser import browser_matches, forget_browser
from .connect_step import finish_connect

router = APIRouter()


async def _login(request: Request, services: Services, issuer: str) -> LoginTransaction:
    state = request.query_params.get("state")
    login = await services.records.logins.get(state) if state else None
    if state is None or login is None:
        raise BrowserError(
            "This sign-in has expired or was already completed. Start again from your MCP client."
        )
    if login.request.issuer != issuer or not browser_matches(request, login.browser):
        raise BrowserError(
            "This sign-in was started in another browser (or its cookie was blocked). "
            "Start again from your MCP client in this browser."
        )
    # Single use, and only now: a stranger holding the state must not be able to burn it.
    await services.records.logins.forget(state)
    return login


@router.get(CALLBACK_PATH)
async def callback(request: Request, services: ServicesDep) -> Response:
    oauth_step("callback")
    issuer = issuer_of(request, services.hosts)
    # A connected account's authorization comes back here too (proxy.hosts[].upstream).
    connected = await finish_connect(request, services, issuer)
    if connected is not None:
        return connected
    login = await _login(request, services, issuer)
    authorization = login.request
    target = RedirectTarget(authorization.redirect_uri, authorization.state, issuer)
    fields = {"client_id": authorization.client_id, "resource": authorization.resource}
    if "error" in request.query_params:
        upstream = request.query_params.get("error", "")[:64]
        audit("login_denied", reason=f"identity provider answered {upstream}", **fields)
        incomplete = "The sign-in at the identity provider did not complete"
        if authorization.is_device:
            # Nobody to redirect to: the device keeps polling until the code expires.
            raise BrowserError(incomplete + ". Enter the code again to retry.")
        raise AuthorizationRedirect(AccessDenied(incomplete), target)
    try:
        identity = await services.provider.complete(
            callback_url=issuer + CALLBACK_PATH,
            params=dict(request.query_params),
            secrets=login.provider_secrets,
        )
    except LoginDenied as exc:
        audit("login_denied", reason=exc.reason, **fields)
        raise LoginRefused(exc.reason) from None
    except ProviderError as exc:
        audit("login_failed", reason=str(exc), **fields)
        raise BrowserError(f"The identity provider did not answer as expected: {exc}") from None
    reason = services.refusal_for(identity, authorization.resource)
    if reason is not None:
        audit("login_denied", reason=reason, sub=identity.subject, email=identity.email, **fields)
        raise LoginRefused(f"Signed in as {identity.email}, but {reason}.")
    audit("login_allowed", sub=identity.subject, email=identity.email, **fields)
    user = User.from_upstream(identity)
    step = await ask_consent(services, authorization, user, login.browser)
    response = see_other(step.location)
    if step.login_done:
        forget_browser(response, login.browser)
    return response


@router.get(DEMO_LOGIN_PATH)
async def demo_login(request: Request, services: ServicesDep) -> Response:
    """The demo provider's login page: one button that signs in the fixed demo user."""
    if services.config.provider.name != "demo":
        raise NotFound("There is no demo login on this server")
    issuer_of(request, services.hosts)
    page = render_page(
        "demo_login.html",
        title="Demo sign-in",
        action=CALLBACK_PATH,
        state=request.query_params.get("state", ""),
        code=DEMO_CODE,
    )
    return HTMLResponse(page, headers={**NO_STORE, **page_security_headers()})
