"""POST /token (OAuth 2.1 §3.2): form in, JSON out, never cached, errors with RFC codes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ...cors import PUBLIC_CORS, preflight
from ...edge import issuer_of, read_form
from ...paths import TOKEN_PATH
from ...responses import NO_STORE
from ...services import ServicesDep
from ..client_auth import authenticate_client
from ..grants import grant
from ..token_requests import check_grant_type, parse_token_request

router = APIRouter()


@router.post(TOKEN_PATH)
async def token(request: Request, services: ServicesDep) -> Response:
    issuer_of(request, services.hosts)
    form = await read_form(request)
    check_grant_type(form)
    client = await authenticate_client(services, form, request.headers.get("authorization"))
    body = await grant(services, client, parse_token_request(form))
    return JSONResponse(body, headers={**NO_STORE, "Pragma": "no-cache", **PUBLIC_CORS})


@router.options(TOKEN_PATH)
def token_preflight() -> Response:
    return preflight("POST, OPTIONS")
