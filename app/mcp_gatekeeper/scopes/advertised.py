"""The scopes a host offers up front: ``scopes_supported`` and the ``scope=`` of 401 challenges.

MCP security best practice (scope minimization): offer a minimal base set and let step-up
challenges ask for more. ``proxy.hosts[].baseScopes`` names that set; without it every known
scope is offered. ``offline_access`` is never offered by a resource (MCP 2026-07-28).
"""

from __future__ import annotations

from ..hosts import McpHost
from ..oauth.scopes import OFFLINE_ACCESS
from .catalog import ScopeSet


def advertised_scopes(host: McpHost, known: ScopeSet) -> tuple[str, ...]:
    base = host.config.base_scopes
    names = known.names if base is None else tuple(base)
    return tuple(name for name in names if name != OFFLINE_ACCESS)
