"""An ID-JAG redeemed at ``/token`` (enterprise-managed authorization; jwt-bearer, RFC 7523 §2.1).

The enterprise IdP decided, at its token exchange, that this user may use this MCP client with
this MCP server; this authorization server still decides for itself. The ID-JAG must have been
issued to the client that presents it (so client identification is required here, where the
workload form of the grant makes it optional), name an MCP server this authorization server
serves and this IdP may grant (``grants.enterprise.issuers[].hosts``), and its user must pass the
same policy as an interactive login (the instance's and the host's allowed domains, emails and
groups). The token carries at most the ID-JAG's scopes, narrowed by the request's ``scope`` and
limited to what the host knows; it has no refresh token (the client gets a new ID-JAG instead).

What the ID-JAG itself says wrongly is ``invalid_grant`` (RFC 7523 §3.1; the MCP profile §7.6.2
for ``aud``, ``resource`` and ``scope``); what the request asks beyond it is ``invalid_target``
or ``invalid_scope``; no client is ``invalid_client``. Every refusal is audited.
"""

from __future__ import annotations

from typing import Any

from ...hosts import McpHost
from ...ops.audit import audit
from ...services import Services, same_resource
from ..assertions import AssertionRejected
from ..clients.models import RegisteredClient
from ..enterprise import IdJag
from ..errors import (
    InvalidClient,
    InvalidGrant,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    TemporarilyUnavailable,
    UnauthorizedClient,
)
from ..records import User
from ..signers import SHOWN_ISSUER_CHARS, unverified_issuer
from ..token_requests import JWT_BEARER, JwtBearerGrant, TokenCall
from .common import access_token, token_response


async def id_jag(
    services: Services, call: TokenCall, client: RegisteredClient | None, grant: JwtBearerGrant
) -> dict[str, Any]:
    """An access token for the ID-JAG ``grant.assertion``, or an audited refusal."""
    try:
        return await _redeem(services, call, client, grant)
    except OAuthError as exc:
        audit(
            "enterprise_grant_refused",
            issuer=_claimed_issuer(grant.assertion),
            client_id=None if client is None else client.client_id,
            error=exc.error,
            reason=exc.description,
        )
        raise


async def _redeem(
    services: Services, call: TokenCall, client: RegisteredClient | None, grant: JwtBearerGrant
) -> dict[str, Any]:
    if not services.config.grants.enterprise.enabled:
        raise InvalidGrant("enterprise-managed authorization (ID-JAG) is not enabled here")
    if client is None:
        raise InvalidClient("client authentication is required to redeem an ID-JAG")
    if client.auth_method == "none":
        # A client_id alone authenticates nothing: whoever intercepted the ID-JAG could redeem
        # it first. The IdP issued it to one client; that client proves it is that client.
        raise UnauthorizedClient(
            "a public client cannot redeem an ID-JAG: authenticate a confidential client"
        )
    now = services.clock()
    leeway = services.config.tokens.clock_skew.total_seconds()
    try:
        jag = await services.enterprise.verify(
            grant.assertion, audience=call.issuer, now=now, leeway=leeway
        )
    except AssertionRejected as exc:
        raise InvalidGrant(str(exc)) from None
    if jag.client_id != client.client_id:
        raise InvalidGrant("the ID-JAG was issued to another client (its client_id)")
    host = _host(services, jag, grant.resource, call.issuer)
    scopes = await _scopes(services, jag, host, grant.scope)
    identity = jag.identity
    refused = services.refusal_for(identity, host.resource)
    if refused is not None:
        raise InvalidGrant(f"{identity.subject} may not use {host.resource}: {refused}")
    # Last, so a request refused for what it asks leaves the ID-JAG usable for a right one.
    try:
        await services.used_assertions.use_once(jag.claims, now, leeway)
    except AssertionRejected as exc:
        raise InvalidGrant(str(exc)) from None
    issuer = jag.config.issuer
    user = User(
        subject=identity.subject, email=identity.email, groups=identity.groups, name=identity.name
    )
    extra = {"gty": JWT_BEARER, "enterprise_iss": issuer}
    token = await access_token(services, call, client, host.resource, scopes, user, extra)
    audit(
        "enterprise_token_issued",
        issuer=issuer,
        sub=identity.subject,
        email=identity.email,
        client_id=client.client_id,
        host=host.host,
        scopes=list(scopes),
    )
    return token_response(token, None)


def _host(services: Services, jag: IdJag, asked: str | None, issuer: str) -> McpHost:
    """The MCP server the ID-JAG grants (its ``resource``), which this IdP may grant and this
    authorization server serves; the request's ``resource`` must be that one."""
    allowed = jag.config.hosts
    if jag.resource is not None:
        found = services.host_for_resource(jag.resource)
        if found is None or found.issuer != issuer:
            raise InvalidGrant(
                f"the ID-JAG's resource {jag.resource!r} is not an MCP server of this "
                "authorization server"
            )
        if found.host not in allowed:
            raise InvalidGrant(f"{jag.config.issuer} may not grant {found.resource}")
        if asked is not None and not same_resource(asked, found.resource):
            raise InvalidTarget(f"the ID-JAG is for {found.resource}, not {asked}")
        return found
    # No resource claim (it is optional): the one host of this issuer's that this server serves.
    candidates = [h for h in services.hosts.hosts if h.host in allowed and h.issuer == issuer]
    if asked is not None:
        named = services.host_for_resource(asked)
        if named is None or named.host not in {h.host for h in candidates}:
            raise InvalidTarget(f"{jag.config.issuer} may not grant {asked} here")
        return named
    if len(candidates) != 1:
        raise InvalidTarget(
            f"resource is required: the ID-JAG names none, and {jag.config.issuer} may grant "
            f"{len(candidates)} MCP servers here"
        )
    return candidates[0]


async def _scopes(
    services: Services, jag: IdJag, host: McpHost, asked: str | None
) -> tuple[str, ...]:
    """The ID-JAG's scopes (none without a ``scope`` claim), narrowed by ``asked``, that the
    host knows."""
    granted = jag.scopes or ()
    if asked is not None:
        outside = [name for name in dict.fromkeys(asked.split()) if name not in granted]
        if outside:
            raise InvalidScope(f"the ID-JAG does not grant {' '.join(outside)}")
        granted = tuple(asked.split())
    known = await services.scopes.scopes(host)
    if not known.available:
        # A token issued now would carry no scope for tools nobody has seen mapped yet.
        raise TemporarilyUnavailable(
            f"the permissions of {host.host} are not known yet; try again shortly"
        )
    scopes = tuple(name for name in known.names if name in granted)
    if jag.scopes and asked is None and not scopes:
        raise InvalidGrant(f"none of the ID-JAG's scopes is a scope of {host.resource}")
    return scopes


def _claimed_issuer(assertion: str) -> str | None:
    """The ``iss`` the assertion claims, shortened, for the audit line of a refusal."""
    try:
        claimed = unverified_issuer(assertion)
    except AssertionRejected:
        return None
    return None if claimed is None else claimed[:SHOWN_ISSUER_CHARS]
