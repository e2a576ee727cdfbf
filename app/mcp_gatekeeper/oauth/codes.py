"""Authorization codes: single use, short-lived, bound to the whole request (OAuth 2.1 §4.1.2)."""

from __future__ import annotations

import secrets

from ..services import Services
from ..urls import add_query
from .records import AuthorizationCode, AuthorizationRequest, User


async def issue_code(services: Services, request: AuthorizationRequest, user: User) -> str:
    """A new code for ``request``: where the browser goes next, the client's redirect URI with
    ``code``, ``state`` and ``iss`` (RFC 9207)."""
    code = secrets.token_urlsafe(32)
    record = AuthorizationCode(request=request, user=user, auth_time=services.clock())
    ttl = services.config.tokens.authorization_code_ttl.total_seconds()
    await services.records.codes.put(code, record, ttl)
    params = {"code": code}
    if request.state is not None:
        params["state"] = request.state
    params["iss"] = request.issuer
    return add_query(request.redirect_uri, params)
