"""The ``authorization_code`` grant (OAuth 2.1 §4.1.3): single use, PKCE, replay revokes."""

from __future__ import annotations

from typing import Any

from ... import pkce
from ...ops.audit import audit
from ...services import Services
from .. import families
from ..clients.models import RegisteredClient
from ..errors import InvalidGrant
from ..records import IssuedFromCode
from ..token_requests import AuthorizationCodeGrant, TokenCall
from .common import access_token, check_resource, refresh_binding, token_response

USED_CODE_MEMORY = 600.0


async def authorization_code(
    services: Services, call: TokenCall, client: RegisteredClient, grant: AuthorizationCodeGrant
) -> dict[str, Any]:
    record = await services.records.codes.take(grant.code)
    if record is None:
        await _replayed(services, grant.code)
        raise InvalidGrant("The authorization code is invalid, expired or already used")
    request = record.request
    if request.client_id != client.client_id:
        raise InvalidGrant("The authorization code was issued to another client")
    if (grant.redirect_uri or request.redirect_uri) != request.redirect_uri:
        raise InvalidGrant("redirect_uri differs from the one of the authorization request")
    if not pkce.verify(grant.code_verifier, request.code_challenge):
        raise InvalidGrant("PKCE verification failed (code_verifier does not match)")
    check_resource(grant.resource, request.resource)
    token = await access_token(
        services, call, client, request.resource, request.scopes, record.user
    )
    refresh, family_id = None, None
    if client.may_refresh():
        family, refresh = await families.start_family(
            services,
            client.client_id,
            request.resource,
            request.scopes,
            record.user,
            jti=token.jti,
            expires_at=token.expires_at,
            dpop_jkt=refresh_binding(client, token),
        )
        family_id = family.family_id
    used = IssuedFromCode(
        family_id=family_id, access_jti=token.jti, access_expires_at=token.expires_at
    )
    await services.records.used_codes.put(grant.code, used, USED_CODE_MEMORY)
    return token_response(token, refresh)


async def _replayed(services: Services, code: str) -> None:
    """OAuth 2.1 §4.1.3: a code used twice revokes the tokens it produced."""
    used = await services.records.used_codes.take(code)
    if used is None:
        return
    services.revocations.revoke(used.access_jti, used.access_expires_at)
    await services.revocations.publish()
    if used.family_id:
        family = await families.load(services, used.family_id)
        if family is not None:
            await families.revoke_family(services, family, "authorization code replayed")
    audit("replay_detected", kind="authorization_code", family=used.family_id)
