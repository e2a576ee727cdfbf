"""The JWKS: every public key a live token may still carry, and the next one before it signs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..cors import PUBLIC_CORS, preflight
from ..edge import issuer_of
from ..paths import JWKS_PATH
from ..responses import PUBLIC_CACHE
from ..services import HostsDep, KeysDep

router = APIRouter()


@router.get(JWKS_PATH)
def jwks(request: Request, hosts: HostsDep, keys: KeysDep) -> Response:
    issuer_of(request, hosts)
    # Short max-age: the next key is published a whole rotation interval before it signs.
    return JSONResponse(keys.ring.jwks(), headers={**PUBLIC_CORS, **PUBLIC_CACHE})


@router.options(JWKS_PATH)
def jwks_preflight() -> Response:
    return preflight("GET, OPTIONS")
