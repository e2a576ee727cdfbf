"""RFC 8414 authorization-server metadata, served identically as OIDC discovery.

MCP clients try ``/.well-known/oauth-authorization-server`` then
``/.well-known/openid-configuration`` for a root issuer (MCP spec A2), and MUST reject a
document whose ``issuer`` is not byte-identical to the one they looked up (2026-07-28), so the
issuer string comes from configuration and is the same everywhere.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ..config.grants import ASSERTION_ALGORITHMS
from ..cors import PUBLIC_CORS, preflight
from ..edge import issuer_of
from ..keys import ALGORITHM
from ..oauth.clients.models import SUPPORTED_AUTH_METHODS
from ..oauth.scopes import OFFLINE_ACCESS
from ..oauth.token_requests import enabled_grant_types
from ..paths import (
    AS_METADATA_PATH,
    AUTHORIZE_PATH,
    DEVICE_AUTHORIZATION_PATH,
    JWKS_PATH,
    OPENID_CONFIGURATION_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
)
from ..responses import PUBLIC_CACHE
from ..scopes.advertised import advertised_scopes
from ..services import ServicesDep
from ..tokens.dpop import ALGORITHMS as DPOP_ALGORITHMS

router = APIRouter()

#: draft-ietf-oauth-identity-assertion-authz-grant-04 §7.2; how an MCP client tells that this
#: server redeems ID-JAGs (the MCP enterprise-managed authorization extension, §6 Discovery).
ID_JAG_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"


def metadata(issuer: str, services: ServicesDep) -> dict[str, Any]:
    scopes: list[str] = []
    dpop = False
    for host in services.hosts.hosts:
        if host.issuer == issuer:
            dpop = dpop or host.config.dpop != "off"
            offered = advertised_scopes(host, services.scopes.known(host))
            scopes += [scope for scope in offered if scope not in scopes]
    config = services.config
    machines = config.grants.client_credentials.enabled
    auth_methods = [*SUPPORTED_AUTH_METHODS, *(["private_key_jwt"] if machines else [])]
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": issuer + AUTHORIZE_PATH,
        "token_endpoint": issuer + TOKEN_PATH,
        "revocation_endpoint": issuer + REVOKE_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "scopes_supported": [*scopes, OFFLINE_ACCESS],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": sorted(enabled_grant_types(config.grants)),
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": list(SUPPORTED_AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": config.clients.metadata_documents.enabled,
        # Required members of OIDC discovery; no ID tokens are issued to MCP clients.
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
    }
    if config.clients.registration_enabled:
        document["registration_endpoint"] = issuer + REGISTER_PATH
    if config.grants.device_code.enabled:
        document["device_authorization_endpoint"] = issuer + DEVICE_AUTHORIZATION_PATH
    if machines:
        document["token_endpoint_auth_signing_alg_values_supported"] = list(ASSERTION_ALGORITHMS)
    if config.grants.enterprise.enabled:
        document["authorization_grant_profiles_supported"] = [ID_JAG_PROFILE]
    if dpop:
        # RFC 9449 §5.1: what /token accepts proofs signed with, once any host binds tokens.
        document["dpop_signing_alg_values_supported"] = list(DPOP_ALGORITHMS)
    return document


@router.get(AS_METADATA_PATH)
@router.get(OPENID_CONFIGURATION_PATH)
def authorization_server_metadata(request: Request, services: ServicesDep) -> Response:
    document = metadata(issuer_of(request, services.hosts), services)
    return JSONResponse(document, headers={**PUBLIC_CORS, **PUBLIC_CACHE})


@router.options(AS_METADATA_PATH)
@router.options(OPENID_CONFIGURATION_PATH)
def metadata_preflight() -> Response:
    return preflight("GET, OPTIONS")
