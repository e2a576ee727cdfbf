"""OAuth errors, one class per RFC error code, each knowing its status.

RFC 6749 §5.2 (token endpoint), §4.1.2.1 (authorization endpoint), RFC 7591 §3.2.2 (registration),
RFC 8707 §2 (``invalid_target``). Each kind says how it is shown by its base (``errors.py``):
JSON for the back-channel endpoints, a redirect to the client once its redirect URI is trusted,
an HTML page before that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import GatekeeperError, PageError, RedirectError
from ..urls import add_query


class OAuthError(GatekeeperError):
    """An error a client acts on by its code."""


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: client authentication failed; 401 with a Basic challenge."""

    status = 401
    error = "invalid_client"

    def extra_headers(self, request_headers: Mapping[str, str]) -> dict[str, str]:
        if request_headers.get("authorization", "").lower().startswith("basic "):
            return {"WWW-Authenticate": 'Basic realm="mcp-gatekeeper"'}
        return {}


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    error = "invalid_target"


class AccessDenied(OAuthError):
    status = 403
    error = "access_denied"


class LoginRequired(OAuthError):
    """OIDC Core §3.1.2.6: ``prompt=none`` and the user would have to sign in."""

    error = "login_required"


class TemporarilyUnavailable(OAuthError):
    status = 503
    error = "temporarily_unavailable"


class InvalidRedirectUri(OAuthError):
    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    error = "invalid_client_metadata"


class SlowDown(OAuthError):
    """Too many registrations, or refreshes of one login; retry in ``retry_after`` seconds."""

    status = 429
    error = "slow_down"

    def __init__(self, description: str, *, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def extra_headers(self, request_headers: Mapping[str, str]) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class AuthorizationPending(OAuthError):
    """RFC 8628 §3.5: the user has not answered yet; poll again after the interval."""

    error = "authorization_pending"


class PollTooFast(OAuthError):
    """RFC 8628 §3.5 ``slow_down``: a 400 like every token error, unlike the 429 ``SlowDown``."""

    error = "slow_down"


class ExpiredToken(OAuthError):
    """RFC 8628 §3.5: the device code expired before the user answered."""

    error = "expired_token"


class DeviceAccessDenied(OAuthError):
    """RFC 8628 §3.5 ``access_denied`` at /token: a 400, unlike the 403 of ``AccessDenied``."""

    error = "access_denied"


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5: the DPoP proof is missing where one is required, or is not acceptable."""

    error = "invalid_dpop_proof"


class UseDpopNonce(OAuthError):
    """RFC 9449 §8: the proof must carry the server's nonce, which the ``DPoP-Nonce`` header
    hands out; the client signs a new proof with it and sends the same request again."""

    error = "use_dpop_nonce"

    def __init__(self, description: str, *, nonce: str) -> None:
        super().__init__(description)
        self.nonce = nonce

    def extra_headers(self, request_headers: Mapping[str, str]) -> dict[str, str]:
        return {"DPoP-Nonce": self.nonce}


class BrowserError(PageError):
    """A failure in the browser part of the login, shown as a page and never redirected:
    either the redirect URI is not trusted (yet), or there is nobody to redirect to."""

    title = "This sign-in request cannot be completed"


class LoginRefused(BrowserError):
    """The identity provider vouched for the user, but policy does not let them in."""

    status = 403
    title = "You cannot sign in to this MCP server"


class TooManyUserCodes(BrowserError):
    """RFC 8628 §5.1: too many wrong user codes from one address; a page, with Retry-After."""

    status = 429
    title = "Too many attempts"

    def __init__(self, description: str, *, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def extra_headers(self, request_headers: Mapping[str, str]) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


@dataclass
class RedirectTarget:
    """Where authorization errors go once the client's redirect URI is validated."""

    redirect_uri: str
    state: str | None
    issuer: str


class AuthorizationRedirect(RedirectError):
    """An authorization error reported to the client through its redirect URI (RFC 6749
    §4.1.2.1), with ``iss`` (RFC 9207)."""

    def __init__(self, error: OAuthError, target: RedirectTarget) -> None:
        params = {"error": error.error, "error_description": error.description}
        if target.state is not None:
            params["state"] = target.state
        params["iss"] = target.issuer
        super().__init__(error.description, add_query(target.redirect_uri, params))
        self.error = error


class InvalidAccessToken(GatekeeperError):
    """RFC 6750 §3.1: a route of the user's own (their connected accounts) needs one of their
    live access tokens; 401 with a Bearer challenge."""

    status = 401
    error = "invalid_token"

    def extra_headers(self, request_headers: Mapping[str, str]) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
