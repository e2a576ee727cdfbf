"""OpenID Connect discovery (the subset a JWT verifier needs) and the JWKS of our signing keys.

Any OIDC-discovery-based verifier (an MCP server checking our tokens itself) finds the keys from
the issuer: ``<issuer>/.well-known/openid-configuration`` → ``jwks_uri``. The JWKS lists every key
a live token may carry, plus the next key ahead of its first use.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..cors import PUBLIC_CORS, preflight
from ..errors import MisdirectedRequest
from ..hosts import JWKS_PATH, OPENID_CONFIGURATION_PATH
from ..keys import ALGORITHM
from ..state import StateDep

router = APIRouter()


def _issuer(request: Request, state: StateDep) -> str:
    issuer = state.hosts.issuer_for(request.headers.get("host"))
    if issuer is None:
        raise MisdirectedRequest("This host is not a configured MCP host or issuer")
    return issuer


@router.get(OPENID_CONFIGURATION_PATH)
def openid_configuration(request: Request, state: StateDep) -> Response:
    issuer = _issuer(request, state)
    document = {
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        "id_token_signing_alg_values_supported": [ALGORITHM],
    }
    return JSONResponse(document, headers={**PUBLIC_CORS, "Cache-Control": "public, max-age=300"})


@router.get(JWKS_PATH)
def jwks(request: Request, state: StateDep) -> Response:
    _issuer(request, state)
    # Short max-age: the next key is published a whole rotation interval before it signs.
    headers = {**PUBLIC_CORS, "Cache-Control": "public, max-age=300"}
    return JSONResponse(state.keys.ring.jwks(), headers=headers)


@router.options(OPENID_CONFIGURATION_PATH)
@router.options(JWKS_PATH)
def discovery_preflight() -> Response:
    return preflight("GET, OPTIONS")
