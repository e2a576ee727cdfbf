"""The ``client_credentials`` grant (RFC 6749 §4.4; the MCP ``oauth-client-credentials``
extension): a machine client an operator made gets a token in its own name.

The token is for one MCP host among those the client is bound to (``resource``, RFC 8707; the
only one when it is bound to one) and served by the issuer the request came to, with at most
the scopes of its binding. Its ``sub`` and ``client_id`` are the client's id, it has no email
and no groups, and ``gty`` says a machine holds it, so MCP servers and policies can tell. No
refresh token (§4.4.3): the client asks again, which re-checks its binding every time.
"""

from __future__ import annotations

from typing import Any

from ...hosts import McpHost
from ...services import Services
from ..clients.models import MachineBinding, RegisteredClient
from ..errors import InvalidScope, InvalidTarget, TemporarilyUnavailable, UnauthorizedClient
from ..records import User
from ..token_requests import ClientCredentialsGrant, TokenCall
from .common import access_token, token_response

GRANT_CLAIM = {"gty": "client_credentials"}


async def client_credentials(
    services: Services, call: TokenCall, client: RegisteredClient, grant: ClientCredentialsGrant
) -> dict[str, Any]:
    binding = client.machine
    if binding is None:
        raise UnauthorizedClient("client_credentials is for machine clients an operator made")
    host = _host(services, binding, grant.resource, call.issuer)
    known = await services.scopes.scopes(host)
    if not known.available:
        # A token issued now would carry no scope for tools nobody has seen mapped yet.
        raise TemporarilyUnavailable(
            f"The permissions of {host.host} are not known yet (its MCP server has not "
            "answered mcp-gatekeeper); try again shortly"
        )
    scopes = _scopes(binding, grant.scope, known.names)
    user = User(subject=client.client_id, email="")
    token = await access_token(services, call, client, host.resource, scopes, user, GRANT_CLAIM)
    return token_response(token, None)


def _host(
    services: Services, binding: MachineBinding, resource: str | None, issuer: str
) -> McpHost:
    if resource is None:
        if len(binding.hosts) != 1:
            raise InvalidTarget(
                "resource is required: this client may get tokens for " + ", ".join(binding.hosts)
            )
        host = services.hosts.get(binding.hosts[0])
    else:
        host = services.host_for_resource(resource)
    # Host isolation: the binding names the host, and this issuer must serve it (a token
    # endpoint of one tenant never mints for another tenant's host).
    if host is None or host.host not in binding.hosts or host.issuer != issuer:
        named = resource if resource is not None else binding.hosts[0]
        raise InvalidTarget(f"{named!r} is not an MCP server this client may get tokens for here")
    return host


def _scopes(
    binding: MachineBinding, asked: str | None, offered: tuple[str, ...]
) -> tuple[str, ...]:
    """Without ``scope``, all the binding allows; with it, a subset of the binding. Either way
    only what the host offers now, in its order (RFC 6749 §3.3: the answer says what was
    granted)."""
    if asked is None:
        wanted = set(binding.scopes)
    else:
        wanted = set(asked.split())
        beyond = sorted(wanted - set(binding.scopes))
        if beyond:
            raise InvalidScope(f"this client may not be granted {' '.join(beyond)}")
    return tuple(name for name in offered if name in wanted)
