"""Remembered approvals and the way into the approval page (``endpoints/consent.py``).

After the login (``endpoints/callback.py``), ``ask_consent`` sends the browser straight back to
the client when the same user approved this very request in full before, and otherwise parks the
request as a ``PendingConsent`` and sends the browser to the approval page. What the page stores
when the user answers is the ``Approval`` read here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..ops.audit import audit
from ..paths import CONSENT_PATH
from ..services import Services
from ..urls import add_query
from . import connected_accounts
from .codes import issue_code
from .hashing import secret_key
from .records import AuthorizationRequest, BrowserBinding, PendingConsent, User


@dataclass(frozen=True)
class NextStep:
    """Where the browser goes after the login."""

    location: str
    #: A code was issued: the login is over and its browser cookie can go.
    login_done: bool


def approval_key(request: AuthorizationRequest, user: User) -> str:
    scopes = " ".join(sorted(request.scopes))
    return secret_key(
        "\n".join((user.subject, request.client_id, request.redirect_uri, request.resource, scopes))
    )


async def ask_consent(
    services: Services, request: AuthorizationRequest, user: User, browser: BrowserBinding
) -> NextStep:
    """Straight to the client when this request was approved in full before; else the page."""
    approval = await services.records.approvals.get(approval_key(request, user))
    # prompt=consent (OIDC Core §3.1.2.1; the Python SDK sends it every time): ask anyway.
    remembered_in_full = approval is not None and set(request.scopes) <= set(approval.scopes)
    # A device sign-in is always asked (RFC 8628 §5.4): a code someone else sent the user must
    # be recognisable on the page, never approved by a remembered answer.
    asks_anyway = request.prompt_consent or request.is_device
    if approval is not None and remembered_in_full and not asks_anyway:
        audit("consent_remembered", client_id=request.client_id, sub=user.subject)
        granted = request.model_copy(update={"scopes": approval.scopes})
        # The host's API account is connected first, if it is not yet (proxy.hosts[].upstream).
        connect = await connected_accounts.begin(services, granted, user, browser)
        if connect is not None:
            return NextStep(connect, login_done=False)
        return NextStep(await issue_code(services, granted, user), login_done=True)
    consent_id = secrets.token_urlsafe(32)
    pending = PendingConsent(
        request=request,
        user=user,
        browser=browser,
        csrf=secrets.token_urlsafe(32),
        started_at=services.clock(),
    )
    ttl = services.config.tokens.login_timeout.total_seconds()
    await services.records.consents.put(consent_id, pending, ttl)
    location = add_query(request.issuer + CONSENT_PATH, {"request": consent_id})
    return NextStep(location, login_done=False)
