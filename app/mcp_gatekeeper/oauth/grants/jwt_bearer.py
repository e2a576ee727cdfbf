"""The jwt-bearer grant (RFC 7523 §2.1): a workload's own JWT for an access token to one host.

No shared secret: the JWT of a trusted issuer (``grants.jwtBearer.issuers``) is the proof, and
the first rule its claims match says which hosts and scopes it may get. A confidential client
that names itself is authenticated by ``/token`` and recorded as the token's ``client_id`` (a
public client is refused: its id proves nothing); otherwise the workload's subject is: the
issuer's ``subjectPrefix`` followed by the JWT's ``sub``. Every refusal of the JWT is
``invalid_grant`` with the reason (RFC 7523 §3.1); a host or scopes outside the rule are
``invalid_target`` and ``invalid_scope``. There is no refresh token: the workload exchanges a
fresh JWT instead.
"""

from __future__ import annotations

from typing import Any

from ...hosts import McpHost
from ...ops.audit import audit
from ...services import Services
from ..assertions import AssertionRejected
from ..clients.models import ClientMetadata, RegisteredClient
from ..enterprise import is_id_jag
from ..errors import (
    InvalidGrant,
    InvalidScope,
    InvalidTarget,
    TemporarilyUnavailable,
    UnauthorizedClient,
)
from ..records import User
from ..token_requests import JWT_BEARER, JwtBearerGrant, TokenCall
from ..workloads import Workload
from .common import access_token, token_response
from .id_jag import id_jag

#: The longest ``sub`` that becomes a token's subject (a Kubernetes service account's is at most
#: ``system:serviceaccount:`` + 63 + ``:`` + 253 characters).
MAX_SUBJECT_CHARS = 512


async def jwt_bearer(
    services: Services, call: TokenCall, client: RegisteredClient | None, grant: JwtBearerGrant
) -> dict[str, Any]:
    """RFC 7523 §2.1 at the ``/token`` of ``issuer`` (the authorization server asked)."""
    # An enterprise IdP's ID-JAG (typ oauth-id-jag+jwt) never meets the workload rules.
    if is_id_jag(grant.assertion):
        return await id_jag(services, call, client, grant)
    if client is not None and client.auth_method == "none":
        # Anyone can name a public client: the token would be recorded as its (it could revoke
        # it, audit lines would blame it) on the strength of an id alone.
        raise UnauthorizedClient(
            "a public client cannot take a workload's token: send the assertion without "
            "client_id, or authenticate a confidential client"
        )
    now = services.clock()
    leeway = services.config.tokens.clock_skew.total_seconds()
    try:
        workload = await services.workloads.verify(grant.assertion, now=now, leeway=leeway)
    except AssertionRejected as exc:
        raise InvalidGrant(str(exc)) from None
    # The issuer's prefix keeps two issuers' workloads of one name apart (``subjectPrefix``).
    subject = services.workloads.subject_prefix(workload.issuer) + _subject(
        workload.claims.get("sub")
    )
    host = _host(services, workload, grant.resource, call.issuer)
    scopes = await _scopes(services, workload, host, grant.scope)
    if services.workloads.single_use(workload.issuer):
        # Last, so a request refused for what it asks leaves the JWT usable for a right one.
        try:
            await services.used_assertions.use_once(workload.claims, now, leeway)
        except AssertionRejected as exc:
            raise InvalidGrant(str(exc)) from None
    holder = client or RegisteredClient(
        client_id=subject, client_id_issued_at=int(now), metadata=ClientMetadata()
    )
    extra = {"gty": JWT_BEARER, "workload_iss": workload.issuer}
    token = await access_token(
        services, call, holder, host.resource, scopes, User(subject=subject, email=""), extra
    )
    audit(
        "workload_token_issued",
        issuer=workload.issuer,
        sub=subject,
        host=host.host,
        rule=workload.rule_index,
        client_id=holder.client_id,
    )
    return token_response(token, None)


def _subject(sub: Any) -> str:
    if not isinstance(sub, str) or not sub:
        raise InvalidGrant("the JWT's sub must be a non-empty string")
    if len(sub) > MAX_SUBJECT_CHARS or not sub.isprintable():
        raise InvalidGrant(f"the JWT's sub must be printable and at most {MAX_SUBJECT_CHARS} chars")
    return sub


def _host(services: Services, workload: Workload, resource: str | None, issuer: str) -> McpHost:
    """The host the token is for: ``resource``, or the rule's only host."""
    allowed = workload.rule.hosts
    if resource is None:
        if len(allowed) != 1:
            raise InvalidTarget(
                f"resource is required: rule {workload.rule_index} of {workload.issuer} grants "
                f"{len(allowed)} hosts"
            )
        only = services.hosts.get(allowed[0])
        if only is None:  # the configuration names configured hosts only: a reload raced us
            raise InvalidTarget(f"{allowed[0]} is no longer served here")
        found = only
    else:
        served = services.host_for_resource(resource)
        if served is None:
            raise InvalidTarget(
                f"{resource!r} is not an MCP server this authorization server serves"
            )
        if served.host not in allowed:
            raise InvalidTarget(
                f"rule {workload.rule_index} of {workload.issuer} does not grant {served.resource}"
            )
        found = served
    if found.issuer != issuer:
        raise InvalidTarget(
            f"{found.resource} is served by the authorization server {found.issuer}"
        )
    return found


async def _scopes(
    services: Services, workload: Workload, host: McpHost, scope: str | None
) -> tuple[str, ...]:
    """``scope`` if the rule grants all of it, else the rule's scopes; those the host knows."""
    granted = workload.rule.scopes
    if scope is not None:
        outside = [name for name in dict.fromkeys(scope.split()) if name not in granted]
        if outside:
            raise InvalidScope(
                f"rule {workload.rule_index} of {workload.issuer} does not grant "
                f"{' '.join(outside)}"
            )
        granted = scope.split()
    known = await services.scopes.scopes(host)
    if not known.available:
        # A token issued now would carry no scope for tools nobody has seen mapped yet.
        raise TemporarilyUnavailable(
            f"the permissions of {host.host} are not known yet; try again shortly"
        )
    return tuple(name for name in known.names if name in granted)
