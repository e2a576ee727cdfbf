"""POST /token (OAuth 2.1 §3.2): form in, JSON out, never cached, errors with RFC codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ...cors import ALLOW_HEADERS, PUBLIC_CORS, preflight
from ...edge import issuer_of, read_form
from ...ops.tracing import oauth_step
from ...paths import TOKEN_PATH
from ...responses import NO_STORE
from ...services import Services, ServicesDep
from ..client_auth import authenticate_client, check_grant, presents_client
from ..errors import OAuthError
from ..grants import grant
from ..token_proofs import proof_key
from ..token_requests import (
    JWT_BEARER,
    TokenCall,
    check_grant_type,
    enabled_grant_types,
    grant_label,
    parse_token_request,
)

router = APIRouter()


@router.post(TOKEN_PATH)
async def token(request: Request, services: ServicesDep) -> Response:
    issuer = issuer_of(request, services.hosts)
    form = await read_form(request)
    enabled = enabled_grant_types(services.config.grants)
    # Only grant types this server knows become a metric label: the form is the client's.
    label = grant_label(form.get("grant_type", ""), enabled)
    oauth_step("token", grant_type=label)
    try:
        body = await _answer(request, services, form, issuer, enabled)
    except OAuthError as exc:
        services.metrics.count_token_request(label, exc.error)
        raise
    services.metrics.count_token_request(label, "issued")
    headers = {**NO_STORE, "Pragma": "no-cache", **PUBLIC_CORS}
    if services.config.tokens.dpop_nonces:
        # RFC 9449 §8.2: the nonce for the client's next proof, before the one it holds ends.
        headers["DPoP-Nonce"] = services.dpop_nonces.current(services.clock())
        headers["Access-Control-Expose-Headers"] = "DPoP-Nonce"
    return JSONResponse(body, headers=headers)


async def _answer(
    request: Request,
    services: Services,
    form: dict[str, str],
    issuer: str,
    enabled: frozenset[str],
) -> dict[str, Any]:
    grant_type = check_grant_type(form, enabled)
    authorization = request.headers.get("authorization")
    client = None
    # RFC 7523 §3.1: a workload's own JWT is enough; client authentication is optional there.
    if grant_type != JWT_BEARER or presents_client(form, authorization):
        client = await authenticate_client(services, form, authorization, issuer=issuer)
        check_grant(services, client, grant_type)
    # RFC 9449 §5: after the client (a refused client burns no proof), before the grant (a
    # refused proof burns no code).
    jkt = await proof_key(services, request.headers.getlist("dpop"), issuer + TOKEN_PATH)
    call = TokenCall(issuer, dpop_jkt=jkt)
    return await grant(services, call, client, parse_token_request(form, enabled))


@router.options(TOKEN_PATH)
def token_preflight() -> Response:
    response = preflight("POST, OPTIONS")
    # Browser clients send their proof in the DPoP header (RFC 9449 §4.1).
    response.headers["Access-Control-Allow-Headers"] = f"{ALLOW_HEADERS}, DPoP"
    return response
