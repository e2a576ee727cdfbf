"""GET /authorize (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 9207).

Order matters: the client and its redirect URI are checked first and failures are shown as a
page, never redirected (an unchecked redirect URI is an open redirector). Every later error goes
back to the client's redirect URI with ``error``, ``state`` and ``iss``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ...edge import issuer_of, mcp_host_of
from ...hosts import McpHost
from ...ops.tracing import oauth_step
from ...paths import AUTHORIZE_PATH
from ...pkce import is_valid_challenge
from ...providers import ProviderError
from ...scopes.advertised import advertised_scopes
from ...services import Services, ServicesDep
from ..clients.metadata_document_rules import UnusableMetadataDocument
from ..clients.models import RegisteredClient
from ..clients.redirect_uris import is_allowed, is_well_formed, matches
from ..errors import (
    AuthorizationRedirect,
    BrowserError,
    InvalidRequest,
    InvalidTarget,
    LoginRequired,
    OAuthError,
    RedirectTarget,
    TemporarilyUnavailable,
    UnsupportedResponseType,
)
from ..records import AuthorizationRequest
from ..scopes import requested_scopes
from .browser import start_login

router = APIRouter()


def single(request: Request, name: str) -> str | None:
    """A parameter given at most once (RFC 6749 §3.1: repeated parameters are an error)."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f"{name} is given more than once")
    return values[0] if values else None


async def _client(services: Services, client_id: str | None) -> RegisteredClient:
    if not client_id:
        raise BrowserError("The request names no client (client_id is missing).")
    try:
        client = await services.clients.get(client_id)
    except UnusableMetadataDocument as exc:
        raise BrowserError(f"The client's metadata document cannot be used: {exc.reason}") from None
    except OAuthError as exc:
        raise BrowserError(
            f"The client's metadata document is not acceptable: {exc.description}"
        ) from None
    if client is None:
        raise BrowserError(
            "This MCP client is not registered here (it may have been removed). "
            "Remove the server from your MCP client and add it again."
        )
    return client


def _redirect_uri(client: RegisteredClient, requested: str | None, allowed: list[str]) -> str:
    registered = client.metadata.redirect_uris
    if requested is None:
        if len(registered) != 1:
            raise BrowserError("The request has no redirect_uri and the client registered several.")
        requested = registered[0]
    if not is_well_formed(requested):
        raise BrowserError(
            f"The redirect address {requested!r} is not a plain URL (it has characters that "
            "browsers and servers read differently), so you are not sent there."
        )
    if not any(matches(uri, requested) for uri in registered):
        raise BrowserError(
            f"The redirect address {requested!r} is not one this client registered, "
            "so you are not sent there."
        )
    if not is_allowed(requested, allowed):
        raise BrowserError(
            f"The redirect address {requested!r} is not allowed by this service's "
            "configuration (proxy.allowedRedirectURLs), so you are not sent there."
        )
    return requested


async def validate(request: Request, services: Services, issuer: str) -> AuthorizationRequest:
    """Client and redirect URI first (errors as a page), then the rest (errors redirected)."""
    try:
        client = await _client(services, single(request, "client_id"))
        allowed = services.config.proxy.allowed_redirect_urls
        redirect_uri = _redirect_uri(client, single(request, "redirect_uri"), allowed)
        state = single(request, "state")
    except InvalidRequest as exc:
        raise BrowserError(exc.description) from None
    target = RedirectTarget(redirect_uri, state, issuer)
    try:
        authorization, host = _validate_rest(request, services, issuer, client, target)
        asked = single(request, "scope")
    except OAuthError as exc:
        raise AuthorizationRedirect(exc, target) from None
    known = await services.scopes.scopes(host)
    if not known.available:
        # A token issued now would carry no scope for tools nobody has seen mapped yet.
        unknown = TemporarilyUnavailable(
            f"The permissions of {host.host} are not known yet (its MCP server has not "
            "answered mcp-gatekeeper); try again shortly"
        )
        raise AuthorizationRedirect(unknown, target)
    scopes = requested_scopes(asked, known.names, advertised_scopes(host, known))
    return authorization.model_copy(update={"scopes": scopes})


def _validate_rest(
    request: Request,
    services: Services,
    issuer: str,
    client: RegisteredClient,
    target: RedirectTarget,
) -> tuple[AuthorizationRequest, McpHost]:
    if single(request, "response_type") != "code":
        raise UnsupportedResponseType("response_type must be code")
    challenge = single(request, "code_challenge")
    if not challenge or not is_valid_challenge(challenge):
        raise InvalidRequest("PKCE is required: send a code_challenge (S256)")
    if single(request, "code_challenge_method") != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    resource = single(request, "resource") or _default_resource(request, services)
    host = services.host_for_resource(resource)
    if host is None or host.issuer != issuer:
        raise InvalidTarget(f"{resource!r} is not an MCP server this authorization server serves")
    prompt = set((single(request, "prompt") or "").split())
    if "none" in prompt:
        # OIDC Core §3.1.2.1: no page at all. This server keeps no sign-in session of its own
        # (every login goes to the identity provider), so the user always has to sign in.
        if len(prompt) > 1:
            raise InvalidRequest("prompt=none cannot be combined with other prompt values")
        raise LoginRequired("Signing in needs the browser: send the request without prompt=none")
    authorization = AuthorizationRequest(
        issuer=issuer,
        client_id=client.client_id,
        redirect_uri=target.redirect_uri,
        state=target.state,
        code_challenge=challenge,
        resource=host.resource,
        scopes=(),
        prompt_consent="consent" in prompt,
    )
    return authorization, host


def _default_resource(request: Request, services: Services) -> str:
    """Clients before MCP 2025-06-18 send no ``resource``: the host they came in on is meant."""
    host = mcp_host_of(request, services.hosts)
    if host is None:
        raise InvalidTarget("resource is required on this authorization server")
    return host.resource


@router.get(AUTHORIZE_PATH)
async def authorize(request: Request, services: ServicesDep) -> Response:
    oauth_step("authorize")
    issuer = issuer_of(request, services.hosts)
    authorization = await validate(request, services, issuer)
    target = RedirectTarget(authorization.redirect_uri, authorization.state, issuer)

    def unreachable(exc: ProviderError) -> Exception:
        reason = TemporarilyUnavailable(f"The identity provider cannot be reached: {exc}")
        return AuthorizationRedirect(reason, target)

    return await start_login(services, authorization, unreachable)
