"""One handler per grant of ``/token``, chosen by the request's model (``token_requests.py``)."""

from __future__ import annotations

from typing import Any

from ...services import Services
from ..clients.models import RegisteredClient
from ..errors import InvalidClient
from ..token_requests import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    DeviceCodeGrant,
    JwtBearerGrant,
    RefreshTokenGrant,
    TokenCall,
    TokenExchangeGrant,
    TokenRequest,
)
from .authorization_code import authorization_code
from .client_credentials import client_credentials
from .device_code import device_code
from .jwt_bearer import jwt_bearer
from .refresh_token import refresh_token
from .token_exchange import token_exchange


async def grant(
    services: Services, call: TokenCall, client: RegisteredClient | None, request: TokenRequest
) -> dict[str, Any]:
    """The RFC 6749 §5.1 answer to ``request`` from ``client``, or an ``OAuthError``.

    ``client`` is None only for a jwt-bearer request that names no client."""
    if isinstance(request, JwtBearerGrant):
        return await jwt_bearer(services, call, client, request)
    if client is None:
        raise InvalidClient("client_id is missing")
    match request:
        case AuthorizationCodeGrant():
            return await authorization_code(services, call, client, request)
        case RefreshTokenGrant():
            return await refresh_token(services, call, client, request)
        case DeviceCodeGrant():
            return await device_code(services, call, client, request)
        case ClientCredentialsGrant():
            return await client_credentials(services, call, client, request)
        case TokenExchangeGrant():
            return await token_exchange(services, call, client, request)
