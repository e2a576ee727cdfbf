"""What every grant ends with: an access token for one MCP host, recorded, audited, answered."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ...hosts import McpHost
from ...ops.audit import audit
from ...services import Services, same_resource
from ...tokens import Identity, IssuedToken, mint_access_token
from .. import issued
from ..clients.models import RegisteredClient
from ..errors import InvalidDpopProof, InvalidTarget
from ..records import IssuedRecord, User
from ..scopes import OFFLINE_ACCESS
from ..token_requests import TokenCall


def check_resource(asked: str | None, bound: str) -> None:
    """RFC 8707 §2.2: a ``resource`` at /token must be the one the grant was issued for."""
    if asked is not None and not same_resource(asked, bound):
        raise InvalidTarget(f"this grant is for {bound}, not {asked}")


async def access_token(
    services: Services,
    call: TokenCall,
    client: RegisteredClient,
    resource: str,
    scopes: tuple[str, ...],
    user: User,
    extra_claims: Mapping[str, Any] | None = None,
    lifetime: timedelta | None = None,
    parent_jti: str | None = None,
) -> IssuedToken:
    """A token for ``resource`` in ``user``'s name (a machine's user has no email), bound to
    the request's DPoP key where the host takes DPoP tokens, recorded before it is handed out."""
    host = services.host_for_resource(resource)
    if host is None:
        raise InvalidTarget(f"{resource} is no longer served here")
    if user.claims:
        # provider.copyClaims, for rules; the mint never lets them replace a claim of its own.
        extra_claims = {**user.claims, **(extra_claims or {})}
    jkt = dpop_binding(host, client, call)
    if jkt is not None:
        extra_claims = {**(extra_claims or {}), "cnf": {"jkt": jkt}}
    token = mint_access_token(
        services.keys.ring,
        host,
        Identity(user.subject, user.email, user.groups),
        scopes=[scope for scope in scopes if scope != OFFLINE_ACCESS],
        client_id=client.client_id,
        now=services.clock(),
        # Shorter for a token that must not outlive another (token exchange).
        lifetime=services.config.tokens.access_token_ttl if lifetime is None else lifetime,
        extra_claims=extra_claims,
    )
    # Every token a client gets, so an administrator can end it by client or by user.
    record = IssuedRecord(
        client_id=client.client_id,
        client_name=client.metadata.client_name,
        subject=user.subject,
        email=user.email,
        groups=user.groups,
        expires_at=token.expires_at,
        parent_jti=parent_jti,
    )
    await issued.remember(services, token, record)
    audit("token_issued", claims=token.claims)
    return token


def dpop_binding(host: McpHost, client: RegisteredClient, call: TokenCall) -> str | None:
    """RFC 9449 §5: the key the token is bound to, for every grant alike: the proof's, unless
    the host's ``dpop`` is off (the proof is then ignored and a Bearer token issued). Without a
    proof, a host that requires DPoP, or a client that registered ``dpop_bound_access_tokens``
    (§5.2), gets no token."""
    if call.dpop_jkt is None:
        if host.config.dpop == "required":
            raise InvalidDpopProof(
                f"this MCP server requires DPoP-bound tokens: send a DPoP proof ({host.resource})"
            )
        if client.metadata.dpop_bound_access_tokens:
            raise InvalidDpopProof(
                "this client registered dpop_bound_access_tokens: send a DPoP proof"
            )
        return None
    return None if host.config.dpop == "off" else call.dpop_jkt


def refresh_binding(client: RegisteredClient, token: IssuedToken) -> str | None:
    """RFC 9449 §5: a public client's refresh token is bound to the key its access token is
    bound to; a confidential client's is bound to its authentication already."""
    cnf = token.claims.get("cnf")
    if client.auth_method != "none" or not isinstance(cnf, dict):
        return None
    jkt: str = cnf["jkt"]
    return jkt


def token_response(token: IssuedToken, refresh: str | None) -> dict[str, Any]:
    """RFC 6749 §5.1."""
    claims = token.claims
    body: dict[str, Any] = {
        "access_token": token.token,
        # RFC 9449 §5: a bound token is a DPoP token, and the client must present it as one.
        "token_type": "DPoP" if "cnf" in claims else "Bearer",
        "expires_in": claims["exp"] - claims["iat"],
        "scope": claims["scope"],
    }
    if refresh is not None:
        body["refresh_token"] = refresh
    return body
