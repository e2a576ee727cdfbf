"""POST /revoke (RFC 7009) for refresh tokens and access tokens.

A revoked access token is refused at once by the process that revoked it, and by every other
process within ``store.pollInterval`` plus one store round-trip (``tokens/revocation_sync.py``).
The tokens agents got by exchanging it (RFC 8693) are revoked with it.
"""

from __future__ import annotations

import jwt
from fastapi import APIRouter, Request, Response

from ...cors import PUBLIC_CORS, preflight
from ...edge import issuer_of, read_form
from ...keys import ALGORITHM
from ...ops.audit import audit
from ...ops.tracing import oauth_step
from ...paths import REVOKE_PATH
from ...responses import NO_STORE
from ...services import Services, ServicesDep
from .. import families, issued
from ..client_auth import authenticate_client
from ..clients.models import RegisteredClient
from ..errors import InvalidRequest

router = APIRouter()


async def _revoke_refresh(services: Services, client: RegisteredClient, token: str) -> bool:
    found = await families.find_family(services, token)
    if found is None:
        return False
    family, _current = found
    # RFC 7009 §2.1: a token of another client is not revoked (and that is not reported).
    if family.client_id == client.client_id and not family.revoked:
        await families.revoke_family(services, family, "revoked by the client")
    return True


async def _revoke_access(services: Services, client: RegisteredClient, token: str) -> None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = services.keys.ring.verification_keys.get(str(kid))
        if key is None:
            return
        # Our signature is what matters: only tokens issued here can add to the revocation list
        # (which keeps every entry until its token expires, so this is what bounds it), and one
        # already expired adds nothing (``RevocationList.revoke``).
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError:
        return
    if claims.get("client_id") == client.client_id and isinstance(claims.get("exp"), int):
        jti = str(claims.get("jti"))
        services.revocations.revoke(jti, float(claims["exp"]))
        # An agent's token exchanged from this one must not outlive the user's decision.
        delegated = await issued.revoke_descendants(services, jti)
        audit(
            "token_revoked", client_id=client.client_id, sub=claims.get("sub"), delegated=delegated
        )


@router.post(REVOKE_PATH)
async def revoke(request: Request, services: ServicesDep) -> Response:
    oauth_step("revoke")
    issuer = issuer_of(request, services.hosts)
    form = await read_form(request)
    token = form.get("token")
    if not token:
        raise InvalidRequest("token is required")
    authorization = request.headers.get("authorization")
    client = await authenticate_client(services, form, authorization, issuer=issuer)
    hint = form.get("token_type_hint")
    if hint == "access_token" or not await _revoke_refresh(services, client, token):
        await _revoke_access(services, client, token)
        # Other processes learn it from the store (within store.pollInterval); 503 if the store
        # cannot take it now, so the client retries (this process already refuses the token).
        await services.revocations.publish()
    # RFC 7009 §2.2: 200 whether or not the token was valid.
    return Response(status_code=200, headers={**NO_STORE, **PUBLIC_CORS})


@router.options(REVOKE_PATH)
def revoke_preflight() -> Response:
    return preflight("POST, OPTIONS")
