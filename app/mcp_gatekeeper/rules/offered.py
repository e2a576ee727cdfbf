"""Which scopes the consent page offers a user: none whose every tool the rules refuse them.

The user's future token is judged before it exists, with the claims it would carry (copied
claims included) and every scope on the page granted, so a rule asking for a scope never hides
that scope. Arguments are not known yet: a rule reading them is assumed to go the user's way,
so a scope is hidden only when each of its tools is refused for every possible call. A scope
that names no tools is always offered (nothing to judge it by).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..config import HostConfig, ScopeConfig
from .engine import rules_for


def offered_scopes(
    config: HostConfig,
    claims: Mapping[str, Any],
    scopes: Sequence[ScopeConfig],
) -> list[ScopeConfig]:
    """``scopes`` less those no rule of the host would ever let this user use."""
    rules = rules_for([rule.as_tuple for rule in config.rules])
    if rules is None:
        return list(scopes)
    names = [scope.name for scope in scopes]
    prospective = {**claims, "scope": " ".join(names), "scopes": names}
    return [
        scope
        for scope in scopes
        if not scope.tools
        or any(rules.may_allow_tool(prospective, tool, config.host) for tool in scope.tools)
    ]


def prospective_claims(
    *,
    issuer: str,
    resource: str,
    subject: str,
    email: str,
    groups: Sequence[str],
    client_id: str,
    copied: Mapping[str, Any],
    now: float,
) -> dict[str, Any]:
    """The claims ``tokens/issue.py`` would write (copied ones first, as there)."""
    return {
        **copied,
        "iss": issuer,
        "aud": resource,
        "sub": subject,
        "email": email,
        "groups": list(groups),
        "client_id": client_id,
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now),
        "jti": "",
    }
