"""POST /register: dynamic client registration (RFC 7591)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..cors import PUBLIC_CORS, preflight
from ..errors import NO_STORE
from ..ops.audit import audit
from ..paths import REGISTER_PATH
from .authorize import issuer_of
from .context import OAuthDep
from .errors import InvalidClientMetadata, InvalidRequest

router = APIRouter()
MAX_BODY_BYTES = 16_384


@router.post(REGISTER_PATH)
async def register(request: Request, oauth: OAuthDep) -> Response:
    issuer_of(request, oauth)
    if not oauth.config.clients.registration_enabled:
        raise InvalidRequest("Dynamic client registration is disabled on this server")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise InvalidClientMetadata("The registration request is too large")
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidClientMetadata("The body must be a JSON object") from None
    if not isinstance(raw, dict):
        raise InvalidClientMetadata("The body must be a JSON object")
    client, secret = await oauth.clients.register(raw)
    audit(
        "client_registered",
        client_id=client.client_id,
        client_name=client.metadata.client_name,
        redirect_uris=client.metadata.redirect_uris,
        auth_method=client.auth_method,
    )
    answer: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": client.client_id_issued_at,
        **client.metadata.model_dump(exclude_none=True),
    }
    if secret is not None:
        answer["client_secret"] = secret
        answer["client_secret_expires_at"] = 0
    return JSONResponse(answer, status_code=201, headers={**NO_STORE, **PUBLIC_CORS})


@router.options(REGISTER_PATH)
def register_preflight() -> Response:
    return preflight("POST, OPTIONS")
