"""Access-token claims (RFC 9068 JWT profile) as the service reads and writes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
#: Header parameters that point at other keys; we only ever trust our own ring (RFC 8725 §3.10).
FORBIDDEN_HEADER_PARAMS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
#: Real tokens are about 1 KiB; anything far larger is refused before parsing.
MAX_TOKEN_BYTES = 8192
#: Actors one token may name (RFC 8693 ``act``, nested); ``grants.tokenExchange`` allows fewer.
MAX_DELEGATION_DEPTH = 10
#: Characters in an actor's ``sub`` (a user's is shown up to 256 bytes, too).
MAX_ACTOR_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the token speaks for, and who acts for them (delegation, RFC 8693)."""

    subject: str
    email: str = ""
    groups: tuple[str, ...] = ()
    #: The ``act`` chain's ``sub`` values, the one presenting the token first; empty when the
    #: user (or their own client) presents it.
    actors: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        """Who is acting for the subject right now ("" when nobody is)."""
        return self.actors[0] if self.actors else ""


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
    #: RFC 9449 ``cnf.jkt``: the thumbprint of the key every request must prove it holds.
    jkt: str | None = None
    #: Every claim as signed, for rules (``proxy.hosts[].rules``, CEL's ``jwt``); never compared.
    payload: Mapping[str, Any] = field(default_factory=dict, compare=False)
