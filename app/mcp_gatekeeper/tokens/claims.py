"""Access-token claims (RFC 9068 JWT profile) as the service reads and writes them."""

from __future__ import annotations

from dataclasses import dataclass

TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
#: Header parameters that point at other keys; we only ever trust our own ring (RFC 8725 §3.10).
FORBIDDEN_HEADER_PARAMS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
#: Real tokens are about 1 KiB; anything far larger is refused before parsing.
MAX_TOKEN_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the token speaks for."""

    subject: str
    email: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """A verified access token's claims that the gateway and MCP servers use."""

    issuer: str
    audience: str
    identity: Identity
    scopes: tuple[str, ...]
    client_id: str
    jti: str
    expires_at: float
