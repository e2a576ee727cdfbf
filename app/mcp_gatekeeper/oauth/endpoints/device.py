"""GET/POST /device (RFC 8628 §3.3): the page where a person enters the code their device shows.

The code is never approved here: a right code starts the usual login (identity provider, then
the access policy at /callback), which always ends on the consent page naming the device sign-in,
the client, the MCP host and the code. ``?user_code=`` (``verification_uri_complete``) only fills
the field in; the person still presses the button. Guessing is bounded per client address
(``user_code_guesses.py``) and per code (``device_grants.MAX_ENTRIES``). The form carries a
token that must match a cookie this page set (double submit), so another site cannot post a
code of its choosing from a visitor's browser.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ...client_address import client_address
from ...edge import issuer_of, read_page_form
from ...ops.audit import audit
from ...ops.tracing import oauth_step
from ...pages import render_page
from ...paths import DEVICE_PATH
from ...responses import NO_STORE, page_security_headers
from ...services import Services, ServicesDep
from .. import device_grants
from ..errors import BrowserError
from ..records import AuthorizationRequest
from ..user_code_guesses import give_back, take_attempt
from ..user_codes import MAX_INPUT, normalise, shown
from .browser import start_login

MAX_FORM_BYTES = 4096
CSRF_COOKIE = "mcpgk-device"
WRONG_CODE = (
    "That code is not valid, has expired or was already used. Check the code your device shows."
)
router = APIRouter()


def _enabled(services: Services) -> None:
    # A page rather than a 404: the path is routed here on every host (``paths.py``).
    if not services.config.grants.device_code.enabled:
        raise BrowserError("Device sign-in (grants.deviceCode) is not enabled on this server.")


def _cookie_name(issuer: str) -> str:
    return ("__Host-" if issuer.startswith("https://") else "") + CSRF_COOKIE


def _form(request: Request, issuer: str, user_code: str, error: str | None = None) -> Response:
    """The code form, with a CSRF token bound to this browser's cookie."""
    name = _cookie_name(issuer)
    csrf = request.cookies.get(name) or secrets.token_urlsafe(32)
    page = render_page(
        "device.html",
        title="Sign in a device",
        action=DEVICE_PATH,
        csrf=csrf,
        user_code=user_code[:MAX_INPUT],
        error=error,
        outcome=None,
    )
    status = 200 if error is None else 400
    headers = {**NO_STORE, **page_security_headers()}
    response = HTMLResponse(page, status_code=status, headers=headers)
    secure = issuer.startswith("https://")
    response.set_cookie(name, csrf, path="/", secure=secure, httponly=True, samesite="lax")
    return response


@router.get(DEVICE_PATH)
async def device_page(request: Request, services: ServicesDep) -> Response:
    oauth_step("device")
    issuer = issuer_of(request, services.hosts)
    _enabled(services)
    return _form(request, issuer, request.query_params.get("user_code", ""))


@router.post(DEVICE_PATH)
async def device_entry(request: Request, services: ServicesDep) -> Response:
    oauth_step("device")
    issuer = issuer_of(request, services.hosts)
    _enabled(services)
    form = dict(await read_page_form(request, MAX_FORM_BYTES))
    cookie = request.cookies.get(_cookie_name(issuer), "")
    if not cookie or not hmac.compare_digest(cookie.encode(), form.get("csrf", "").encode()):
        raise BrowserError("The code was not sent by this page (CSRF check failed). Open it again.")
    address = client_address(request)
    await take_attempt(services, address)
    entered = form.get("user_code", "")
    code = normalise(entered)
    found = await device_grants.find(services, code) if code is not None else None
    if code is None or found is None or found.grant.issuer != issuer:
        return _form(request, issuer, entered, WRONG_CODE)
    await give_back(services, address)
    if not await device_grants.count_entry(services, found.code_hash):
        raise BrowserError("This code was entered too many times. Start again on your device.")
    grant = found.grant
    authorization = AuthorizationRequest(
        issuer=issuer,
        client_id=grant.client_id,
        redirect_uri="",
        state=None,
        code_challenge="",
        resource=grant.resource,
        scopes=grant.scopes,
        device_code_hash=found.code_hash,
        user_code=shown(code),
    )
    audit("device_code_entered", client_id=grant.client_id, resource=grant.resource)
    return await start_login(
        services,
        authorization,
        lambda exc: BrowserError(f"The identity provider cannot be reached: {exc}"),
    )
