"""Minting access tokens: RS256 JWTs per RFC 9068 signed with the ring's current key."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt

from ..hosts import McpHost
from ..keys import ALGORITHM, KeyRing
from .claims import TOKEN_TYPE, Identity


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int
    #: The claims, for the audit log (never the token itself).
    claims: dict[str, Any]


def mint_access_token(
    ring: KeyRing,
    host: McpHost,
    identity: Identity,
    *,
    scopes: tuple[str, ...] | list[str],
    client_id: str,
    now: float,
    lifetime: timedelta,
    extra_claims: Mapping[str, Any] | None = None,
) -> IssuedToken:
    """A token for exactly one MCP host: ``aud`` is that host's canonical resource.

    ``extra_claims`` (``act`` for delegation, ``gty`` for the grant a machine used) never
    replace the claims above."""
    issued_at = int(now)
    expires_at = issued_at + int(lifetime.total_seconds())
    jti = secrets.token_urlsafe(16)
    claims: dict[str, Any] = {
        "iss": host.issuer,
        "aud": host.resource,
        "sub": identity.subject,
        "email": identity.email,
        "groups": list(identity.groups),
        "scope": " ".join(scopes),
        # The Go mcp-oauth2-proxy put scopes in an array; MCP servers written for it read this.
        "scopes": list(scopes),
        "client_id": client_id,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": expires_at,
        "jti": jti,
    }
    if extra_claims:
        claims = {**extra_claims, **claims}
    key = ring.current
    token = jwt.encode(
        claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": TOKEN_TYPE}
    )
    return IssuedToken(token, jti, expires_at, claims)
