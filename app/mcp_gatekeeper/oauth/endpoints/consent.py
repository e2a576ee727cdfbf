"""The approval step: the signed-in user approves this client before any code is issued.

This is the confused-deputy guard of the MCP spec (A12): we log users in with one static
upstream client for every dynamically registered MCP client, so without it an attacker's client
could ride on a victim's identity-provider session. An approval is remembered for the same user,
client, redirect URI, resource and requested scopes (with the scopes the user picked), and
then skips the page if the user granted every requested scope: a scope left unticked is asked
about again when the client asks again (a step-up after 403 ``insufficient_scope`` re-requests
it, and could never succeed otherwise), and unless the client sent ``prompt=consent``.
``proxy.disableConsentScreen`` removes the scope
picker (the requested scopes are granted), never the approval itself.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ...edge import issuer_of, read_page_form
from ...ops.audit import audit
from ...ops.tracing import oauth_step
from ...pages import render_page
from ...paths import CONSENT_PATH
from ...responses import NO_STORE, page_security_headers, see_other
from ...rules.offered import offered_scopes, prospective_claims
from ...services import Services, ServicesDep
from .. import connected_accounts, device_grants
from ..approvals import approval_key
from ..clients.metadata_document_rules import UnusableMetadataDocument
from ..clients.redirect_uris import is_loopback_redirect_uri
from ..codes import issue_code
from ..errors import AccessDenied, AuthorizationRedirect, BrowserError, RedirectTarget
from ..records import Approval, AuthorizationRequest, PendingConsent
from .browser import browser_matches, forget_browser

#: The approval form: three short fields and the ticked scopes (a host may have hundreds).
MAX_FORM_BYTES = 65_536
#: A client registered this recently gets a "new application" notice on the page.
FIRST_SEEN_SECONDS = 3600.0
router = APIRouter()


async def _pending(request: Request, services: Services, consent_id: str | None) -> PendingConsent:
    issuer = issuer_of(request, services.hosts)
    pending = await services.records.consents.get(consent_id) if consent_id else None
    if pending is None:
        raise BrowserError(
            "This approval page has expired or was already answered. "
            "Start again from your MCP client."
        )
    if pending.request.issuer != issuer or not browser_matches(request, pending.browser):
        raise BrowserError("This approval belongs to a sign-in started in another browser.")
    return pending


@router.get(CONSENT_PATH)
async def consent_page(request: Request, services: ServicesDep) -> Response:
    oauth_step("consent")
    consent_id = request.query_params.get("request")
    pending = await _pending(request, services, consent_id)
    try:
        client = await services.clients.get(pending.request.client_id)
    except UnusableMetadataDocument as exc:
        # Re-fetched when its cache expired between /authorize and this page.
        raise BrowserError(f"The client's metadata document cannot be used: {exc.reason}") from None
    host = services.host_for_resource(pending.request.resource)
    if client is None or host is None:
        raise BrowserError("The client or MCP server of this request no longer exists.")
    known = await services.scopes.scopes(host)
    requested = set(pending.request.scopes)
    picker = not services.config.proxy.disable_consent_screen
    shown = [scope for scope in known.scopes if picker or scope.name in requested]
    # proxy.hosts[].rules: no scope whose every tool the rules would refuse this user.
    user = pending.user
    claims = prospective_claims(
        issuer=host.issuer,
        resource=host.resource,
        subject=user.subject,
        email=user.email,
        groups=user.groups,
        client_id=client.client_id,
        copied=user.claims,
        now=services.clock(),
    )
    shown = offered_scopes(host.config, claims, shown)
    page = render_page(
        "consent.html",
        title=f"Allow {client.display_name}?",
        client_name=client.display_name,
        client_id=client.client_id,
        logo=client.metadata.logo_uri if _is_https(client.metadata.logo_uri) else None,
        first_seen=client.client_id_issued_at > services.clock() - FIRST_SEEN_SECONDS,
        redirect_host=urlsplit(pending.request.redirect_uri).netloc,
        # A device sign-in (RFC 8628) redirects nowhere: the page names the code instead.
        user_code=pending.request.user_code if pending.request.is_device else None,
        loopback_only=not pending.request.is_device
        and all(is_loopback_redirect_uri(uri) for uri in client.metadata.redirect_uris),
        resource=pending.request.resource,
        host=host.host,
        # The upstream API and permissions the MCP server will act with (proxy.hosts[].upstream).
        upstream=host.config.upstream,
        user=pending.user,
        scopes=shown,
        requested=requested,
        picker=picker,
        scopes_unavailable=not known.available,
        consent_id=consent_id,
        csrf=pending.csrf,
        action=CONSENT_PATH,
    )
    return HTMLResponse(page, headers={**NO_STORE, **page_security_headers()})


def _is_https(uri: str | None) -> bool:
    # A logo over http would be mixed content and a tracking pixel for anyone on the path.
    return uri is not None and uri.startswith("https://")


@router.post(CONSENT_PATH)
async def consent_answer(request: Request, services: ServicesDep) -> Response:
    oauth_step("consent")
    pairs = await read_page_form(request, MAX_FORM_BYTES)
    form = dict(pairs)
    consent_id, csrf, decision = (form.get(name, "") for name in ("request", "csrf", "decision"))
    scope = [value for name, value in pairs if name == "scope"]
    pending = await _pending(request, services, consent_id)
    if not hmac.compare_digest(csrf.encode(), pending.csrf.encode()):
        raise BrowserError("The approval form was not sent by this page (CSRF check failed).")
    await services.records.consents.forget(consent_id)
    authorization, user = pending.request, pending.user
    fields = {"client_id": authorization.client_id, "sub": user.subject}
    if authorization.is_device:
        return await _answer_device(services, pending, decision, scope)
    if decision != "approve":
        audit("consent_denied", **fields)
        target = RedirectTarget(
            authorization.redirect_uri, authorization.state, authorization.issuer
        )
        raise AuthorizationRedirect(AccessDenied("The user denied the request"), target)
    approved = _approved_scopes(services, authorization, scope)
    ttl = services.config.tokens.max_session_age.total_seconds()
    # The record names the user, so an administrator can make them approve again.
    record = Approval(subject=user.subject, email=user.email, scopes=approved)
    await services.records.approvals.put(approval_key(authorization, user), record, ttl)
    audit("consent_given", requested=list(authorization.scopes), scopes=list(approved), **fields)
    granted = authorization.model_copy(update={"scopes": approved})
    # The host's API account is connected first, if it is not yet (proxy.hosts[].upstream).
    connect = await connected_accounts.begin(services, granted, user, pending.browser)
    if connect is not None:
        return see_other(connect)
    response = see_other(await issue_code(services, granted, user))
    forget_browser(response, pending.browser)
    return response


async def _answer_device(
    services: Services, pending: PendingConsent, decision: str, ticked: list[str]
) -> Response:
    """RFC 8628: the device grant is approved or denied; the browser is told to go back to the
    device. Nothing is remembered: the next device sign-in asks again."""
    authorization, user = pending.request, pending.user
    approve = decision == "approve"
    scopes = _approved_scopes(services, authorization, ticked) if approve else None
    code_hash = authorization.device_code_hash or ""
    if not await device_grants.decide(services, code_hash, user, scopes):
        raise BrowserError("This device sign-in has expired or was already answered.")
    fields = {"client_id": authorization.client_id, "sub": user.subject}
    if scopes is None:
        audit("device_denied", resource=authorization.resource, **fields)
    else:
        audit("device_authorized", resource=authorization.resource, scopes=list(scopes), **fields)
    try:
        client = await services.clients.get(authorization.client_id)
    except UnusableMetadataDocument:
        client = None  # the answer is recorded; only the client's name is missing on the page
    host = services.host_for_resource(authorization.resource)
    page = render_page(
        "device.html",
        title="Device sign-in",
        outcome="approved" if approve else "denied",
        client_name=client.display_name if client is not None else authorization.client_id,
        host=host.host if host is not None else authorization.resource,
        email=user.email,
    )
    response = HTMLResponse(page, headers={**NO_STORE, **page_security_headers()})
    forget_browser(response, pending.browser)
    return response


def _approved_scopes(
    services: Services, authorization: AuthorizationRequest, ticked: list[str]
) -> tuple[str, ...]:
    """Exactly what the user ticked, among the host's scopes; the request as is without picker."""
    if services.config.proxy.disable_consent_screen:
        return authorization.scopes
    host = services.host_for_resource(authorization.resource)
    known = services.scopes.known(host) if host is not None else None
    names = known.names if known is not None else authorization.scopes
    return tuple(name for name in names if name in set(ticked))
