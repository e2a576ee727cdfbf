"""Minting access tokens: RS256 JWTs per RFC 9068 signed with the ring's current key."""

from __future__ import annotations

import secrets
from datetime import timedelta

import jwt

from ..hosts import McpHost
from ..keys import ALGORITHM, KeyRing
from .claims import TOKEN_TYPE, Identity


def mint_access_token(
    ring: KeyRing,
    host: McpHost,
    identity: Identity,
    *,
    scopes: tuple[str, ...] | list[str],
    client_id: str,
    now: float,
    lifetime: timedelta,
) -> str:
    """A token for exactly one MCP host: ``aud`` is that host's canonical resource."""
    issued_at = int(now)
    claims = {
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
        "exp": issued_at + int(lifetime.total_seconds()),
        "jti": secrets.token_urlsafe(16),
    }
    key = ring.current
    return jwt.encode(
        claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": TOKEN_TYPE}
    )
