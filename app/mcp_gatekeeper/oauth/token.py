"""POST /token (OAuth 2.1 §3.2): form in, JSON out, never cached, errors with RFC codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..cors import PUBLIC_CORS, preflight
from ..errors import NO_STORE
from ..paths import TOKEN_PATH
from . import grants
from .client_auth import authenticate_client
from .context import OAuthContext, OAuthDep
from .edge import issuer_of, read_form
from .errors import InvalidRequest, UnsupportedGrantType

router = APIRouter()


async def _token(request: Request, oauth: OAuthContext) -> dict[str, Any]:
    issuer_of(request, oauth.hosts)
    form = await read_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    handler = {
        "authorization_code": grants.authorization_code,
        "refresh_token": grants.refresh_token,
    }.get(grant_type)
    if handler is None:
        raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported")
    client = await authenticate_client(request, form, oauth)
    return await handler(oauth, client, form)


@router.post(TOKEN_PATH)
async def token(request: Request, oauth: OAuthDep) -> Response:
    body = await _token(request, oauth)
    return JSONResponse(body, headers={**NO_STORE, "Pragma": "no-cache", **PUBLIC_CORS})


@router.options(TOKEN_PATH)
def token_preflight() -> Response:
    return preflight("POST, OPTIONS")
