"""Authorization codes: single use, short-lived, bound to the whole request (OAuth 2.1 §4.1.2)."""

from __future__ import annotations

import secrets

from fastapi.responses import RedirectResponse

from ..errors import NO_STORE
from ..urls import add_query
from .browser import BrowserBinding, forget_browser
from .context import OAuthContext
from .hashing import secret_key
from .records import AuthorizationCode, AuthorizationRequest, User

CODES = "codes"


async def redirect_with_code(
    oauth: OAuthContext, request: AuthorizationRequest, user: User, browser: BrowserBinding
) -> RedirectResponse:
    """Issue a code and send the browser back to the client with ``code``, ``state``, ``iss``."""
    code = secrets.token_urlsafe(32)
    record = AuthorizationCode(request=request, user=user, auth_time=oauth.clock())
    ttl = oauth.config.tokens.authorization_code_ttl.total_seconds()
    await oauth.store.put(CODES, secret_key(code), oauth.records.dump(record), ttl)
    params = {"code": code}
    if request.state is not None:
        params["state"] = request.state
    params["iss"] = request.issuer
    response = RedirectResponse(
        add_query(request.redirect_uri, params), status_code=303, headers=NO_STORE
    )
    forget_browser(response, browser)
    return response
