"""One handler per grant of ``/token``, chosen by the request's model (``token_requests.py``)."""

from __future__ import annotations

from typing import Any

from ...services import Services
from ..clients.models import RegisteredClient
from ..token_requests import AuthorizationCodeGrant, RefreshTokenGrant, TokenRequest
from .authorization_code import authorization_code
from .refresh_token import refresh_token


async def grant(
    services: Services, client: RegisteredClient, request: TokenRequest
) -> dict[str, Any]:
    """The RFC 6749 §5.1 answer to ``request`` from ``client``, or an ``OAuthError``."""
    match request:
        case AuthorizationCodeGrant():
            return await authorization_code(services, client, request)
        case RefreshTokenGrant():
            return await refresh_token(services, client, request)
