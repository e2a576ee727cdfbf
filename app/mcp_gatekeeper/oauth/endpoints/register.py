"""POST /register: dynamic client registration (RFC 7591)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ... import bounded_json
from ...client_address import client_address
from ...cors import PUBLIC_CORS, preflight
from ...edge import issuer_of
from ...http_body import BodyTooLarge, read_body
from ...ops.audit import audit
from ...ops.tracing import oauth_step
from ...paths import REGISTER_PATH
from ...responses import NO_STORE
from ...services import ServicesDep
from ..errors import InvalidClientMetadata, InvalidRequest

router = APIRouter()
MAX_BODY_BYTES = 16_384


@router.post(REGISTER_PATH)
async def register(request: Request, services: ServicesDep) -> Response:
    oauth_step("register")
    issuer_of(request, services.hosts)
    if not services.config.clients.registration_enabled:
        raise InvalidRequest("Dynamic client registration is disabled on this server")
    try:
        raw = bounded_json.loads(await read_body(request, MAX_BODY_BYTES))
    except BodyTooLarge as exc:
        raise InvalidClientMetadata(str(exc)) from None
    except bounded_json.UnboundedJson as exc:
        raise InvalidClientMetadata(f"The body is not acceptable: {exc}") from None
    except ValueError:  # UnicodeDecodeError included
        raise InvalidClientMetadata("The body must be a JSON object") from None
    if not isinstance(raw, dict):
        raise InvalidClientMetadata("The body must be a JSON object")
    client, secret = await services.clients.register(raw, client_address(request))
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
