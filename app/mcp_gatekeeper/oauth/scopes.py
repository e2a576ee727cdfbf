"""Which scopes an authorization request gets.

Scopes are whatever the MCP host offers (and ``offline_access``, which only decides whether a
refresh token is issued). They are not limited to what the client registered, so a client can
step up after a 403 ``insufficient_scope`` (MCP scope challenge handling).
"""

from __future__ import annotations

OFFLINE_ACCESS = "offline_access"


def requested_scopes(
    scope: str | None, available: tuple[str, ...], default: tuple[str, ...]
) -> tuple[str, ...]:
    """The requested scopes the host knows, in the host's order; unknown ones are dropped
    (RFC 6749 §3.3 lets the server ignore them; the token response states what was granted).
    Without a ``scope`` parameter, the host's advertised (base) scopes are requested."""
    if scope is None:
        return tuple(name for name in default if name in available)
    asked = set(scope.split())
    return tuple(name for name in available if name in asked)
