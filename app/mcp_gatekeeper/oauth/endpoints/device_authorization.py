"""POST /device_authorization (RFC 8628 §3.1, §3.2): a device asks for a device code and a user
code, for one MCP host.

The client authenticates as at /token (a public client names itself) and must have registered
the device_code grant. ``resource`` (RFC 8707) defaults to the MCP host the request came in on,
as at /authorize, and must belong to this request's issuer. How many may be started, per
address and per client, is bounded (``device_requests.py``): 429 ``slow_down`` beyond.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ...client_address import client_address
from ...cors import PUBLIC_CORS, preflight
from ...edge import issuer_of, mcp_host_of, read_form
from ...hosts import McpHost
from ...ops.tracing import oauth_step
from ...paths import DEVICE_AUTHORIZATION_PATH, DEVICE_PATH
from ...responses import NO_STORE
from ...scopes.advertised import advertised_scopes
from ...services import Services, ServicesDep
from ...urls import add_query
from .. import device_grants, device_requests
from ..client_auth import authenticate_client
from ..errors import (
    InvalidTarget,
    TemporarilyUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from ..scopes import requested_scopes
from ..token_requests import DEVICE_CODE
from ..user_codes import shown

router = APIRouter()


def _host(request: Request, services: Services, issuer: str, resource: str | None) -> McpHost:
    if resource is None:
        host = mcp_host_of(request, services.hosts)
        if host is None:
            raise InvalidTarget("resource is required on this authorization server")
    else:
        host = services.host_for_resource(resource)
    if host is None or host.issuer != issuer:
        raise InvalidTarget(f"{resource!r} is not an MCP server this authorization server serves")
    return host


@router.post(DEVICE_AUTHORIZATION_PATH)
async def device_authorization(request: Request, services: ServicesDep) -> Response:
    oauth_step("device_authorization")
    issuer = issuer_of(request, services.hosts)
    if not services.config.grants.device_code.enabled:
        raise UnsupportedGrantType("The device authorization grant is not enabled on this server")
    form = await read_form(request)
    client = await authenticate_client(services, form, request.headers.get("authorization"))
    if DEVICE_CODE not in client.metadata.grant_types:
        raise UnauthorizedClient(f"This client did not register the grant type {DEVICE_CODE}")
    host = _host(request, services, issuer, form.get("resource"))
    # Before anything is stored: per address, and per client (a public client is anyone).
    await device_requests.admit(services, client_address(request), client.client_id)
    known = await services.scopes.scopes(host)
    if not known.available:
        raise TemporarilyUnavailable(
            f"The permissions of {host.host} are not known yet; try again shortly"
        )
    scopes = requested_scopes(form.get("scope"), known.names, advertised_scopes(host, known))
    started = await device_grants.start(services, client.client_id, issuer, host.resource, scopes)
    verification_uri = issuer + DEVICE_PATH
    settings = services.config.grants.device_code
    body = {
        "device_code": started.device_code,
        "user_code": shown(started.user_code),
        "verification_uri": verification_uri,
        "verification_uri_complete": add_query(
            verification_uri, {"user_code": shown(started.user_code)}
        ),
        "expires_in": int(settings.code_ttl.total_seconds()),
        "interval": int(settings.interval.total_seconds()),
    }
    return JSONResponse(body, headers={**NO_STORE, "Pragma": "no-cache", **PUBLIC_CORS})


@router.options(DEVICE_AUTHORIZATION_PATH)
def device_authorization_preflight() -> Response:
    return preflight("POST, OPTIONS")
