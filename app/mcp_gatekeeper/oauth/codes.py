"""Authorization codes: single use, short-lived, bound to the whole request (OAuth 2.1 §4.1.2)."""

from __future__ import annotations

import secrets

from ..services import Services
from ..urls import add_query
from .records import AuthorizationCode, AuthorizationRequest, ProviderGrant, User


async def issue_code(services: Services, request: AuthorizationRequest, user: User) -> str:
    """A new code for ``request``: where the browser goes next, the client's redirect URI with
    ``code``, ``state`` and ``iss`` (RFC 9207)."""
    code = secrets.token_urlsafe(32)
    record = AuthorizationCode(request=request, user=user, auth_time=services.clock())
    ttl = services.config.tokens.authorization_code_ttl.total_seconds()
    await services.records.codes.put(code, record, ttl)
    if user.recheck_secret is not None and any(h.config.upstream for h in services.hosts.hosts):
        # The provider's token for this user is what an upstream credential is made from.
        grant = ProviderGrant(
            subject=user.subject, secret=user.recheck_secret, updated_at=services.clock()
        )
        session = services.config.tokens.max_session_age.total_seconds()
        await services.records.provider_grants.put(user.subject, grant, session)
    params = {"code": code}
    if request.state is not None:
        params["state"] = request.state
    params["iss"] = request.issuer
    return add_query(request.redirect_uri, params)
