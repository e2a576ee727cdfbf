"""Remembered approvals and the way into the approval page (the route is in ``consent.py``).

After the login (``callback.py``), ``ask_consent`` sends the browser straight back to the client
when the same user approved this very request in full before, and otherwise parks the request
as a ``PendingConsent`` and sends the browser to the approval page. What ``consent.py`` stores
when the user answers is the ``Approval`` read here.
"""

from __future__ import annotations

import secrets

from fastapi import Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from ..errors import NO_STORE
from ..ops.audit import audit
from ..paths import CONSENT_PATH
from ..urls import add_query
from .browser import BrowserBinding
from .codes import redirect_with_code
from .context import OAuthContext
from .hashing import secret_key
from .records import AuthorizationRequest, PendingConsent, User

CONSENTS = "consents"
APPROVALS = "approvals"


class Approval(BaseModel):
    """A remembered approval: who approved, and which of the requested scopes."""

    subject: str
    email: str
    scopes: tuple[str, ...]


def approval_key(request: AuthorizationRequest, user: User) -> str:
    scopes = " ".join(sorted(request.scopes))
    return secret_key(
        "\n".join((user.subject, request.client_id, request.redirect_uri, request.resource, scopes))
    )


async def ask_consent(
    oauth: OAuthContext, request: AuthorizationRequest, user: User, browser: BrowserBinding
) -> Response:
    """Straight to the client when this request was approved in full before; else the page."""
    remembered = await oauth.store.get(APPROVALS, approval_key(request, user))
    approval = oauth.records.load(Approval, remembered)
    # prompt=consent (OIDC Core §3.1.2.1; the Python SDK sends it every time): ask anyway.
    remembered_in_full = approval is not None and set(request.scopes) <= set(approval.scopes)
    if approval is not None and remembered_in_full and not request.prompt_consent:
        audit("consent_remembered", client_id=request.client_id, sub=user.subject)
        granted = request.model_copy(update={"scopes": approval.scopes})
        return await redirect_with_code(oauth, granted, user, browser)
    consent_id = secrets.token_urlsafe(32)
    pending = PendingConsent(
        request=request,
        user=user,
        browser=browser,
        csrf=secrets.token_urlsafe(32),
        started_at=oauth.clock(),
    )
    ttl = oauth.config.tokens.login_timeout.total_seconds()
    await oauth.store.put(CONSENTS, secret_key(consent_id), oauth.records.dump(pending), ttl)
    location = add_query(request.issuer + CONSENT_PATH, {"request": consent_id})
    return RedirectResponse(location, status_code=303, headers=NO_STORE)
