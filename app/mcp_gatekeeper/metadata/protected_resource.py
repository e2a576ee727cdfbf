"""RFC 9728 OAuth 2.0 Protected Resource Metadata, one document per MCP host.

Served at the root (``/.well-known/oauth-protected-resource``) and path-suffixed
(``/.well-known/oauth-protected-resource/mcp``, RFC 9728 §3.1), which MCP clients try first.
``authorization_servers`` holds the issuer string byte-identical to the AS metadata ``issuer``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from ..cors import PUBLIC_CORS, preflight
from ..edge import mcp_host_of
from ..errors import MisdirectedRequest, NotFound
from ..hosts import McpHost
from ..paths import PRM_PATH
from ..responses import PUBLIC_CACHE
from ..scopes.advertised import advertised_scopes
from ..services import ServicesDep
from ..tokens.dpop import ALGORITHMS as DPOP_ALGORITHMS

router = APIRouter()


class ProtectedResourceMetadata(BaseModel):
    resource: str
    authorization_servers: list[str]
    scopes_supported: list[str]
    bearer_methods_supported: list[str]
    jwks_uri: str
    resource_name: str
    #: RFC 9728 §2 / RFC 9449: only for hosts whose ``dpop`` is allowed or required.
    dpop_signing_alg_values_supported: list[str] | None = None
    dpop_bound_access_tokens_required: bool | None = None


def metadata_for(host: McpHost, scopes: tuple[str, ...]) -> ProtectedResourceMetadata:
    return ProtectedResourceMetadata(
        resource=host.resource,
        authorization_servers=[host.issuer],
        scopes_supported=list(scopes),
        # RFC 6750 §2.3: tokens in query strings leak into logs; only the header is accepted.
        bearer_methods_supported=["header"],
        jwks_uri=host.jwks_uri,
        resource_name=host.host,
        dpop_signing_alg_values_supported=(
            None if host.config.dpop == "off" else list(DPOP_ALGORITHMS)
        ),
        dpop_bound_access_tokens_required=True if host.config.dpop == "required" else None,
    )


def _document(request: Request, services: ServicesDep, suffix: str | None) -> Response:
    host = mcp_host_of(request, services.hosts)
    if host is None:
        raise MisdirectedRequest("This host is not a configured MCP host")
    if suffix is not None and "/" + suffix != host.path:
        raise NotFound(f"No protected resource at {suffix!r} on this host; try {host.path!r}")
    scopes = advertised_scopes(host, services.scopes.known(host))
    body = metadata_for(host, scopes).model_dump_json(exclude_none=True)
    headers = {**PUBLIC_CORS, **PUBLIC_CACHE}
    return Response(body, media_type="application/json", headers=headers)


@router.get(PRM_PATH)
def root_document(request: Request, services: ServicesDep) -> Response:
    return _document(request, services, None)


@router.get(PRM_PATH + "/{suffix:path}")
def suffixed_document(suffix: str, request: Request, services: ServicesDep) -> Response:
    return _document(request, services, suffix)


@router.options(PRM_PATH)
@router.options(PRM_PATH + "/{suffix:path}")
def document_preflight() -> Response:
    return preflight("GET, OPTIONS")
