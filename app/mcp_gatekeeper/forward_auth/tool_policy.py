"""Which scopes a tool needs, from the scopes an MCP server advertises.

A tool is callable with any one of the scopes that list it; a tool no scope lists stays
callable by every valid token for the host. When a scope is missing, the challenge asks for the
granted scopes plus the least privileged scope covering each refused tool (the one covering the
fewest tools), so the client steps up without losing what it has (MCP scope challenge handling).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..config import ScopeConfig


@dataclass(frozen=True)
class ToolScopes:
    #: tool → the scopes that allow it, least privileged first.
    covering: dict[str, tuple[str, ...]]

    @classmethod
    def from_scopes(cls, scopes: Sequence[ScopeConfig]) -> ToolScopes:
        ranked = sorted(enumerate(scopes), key=lambda item: (len(item[1].tools), item[0]))
        covering: dict[str, list[str]] = {}
        for _index, scope in ranked:
            for tool in scope.tools:
                covering.setdefault(tool, []).append(scope.name)
        return cls({tool: tuple(names) for tool, names in covering.items()})

    def missing(self, tools: Iterable[str], granted: Sequence[str]) -> tuple[str, ...]:
        """Scopes to add so every tool is allowed; empty when the token already suffices."""
        have = set(granted)
        needed: list[str] = []
        for tool in tools:
            allowed = self.covering.get(tool)
            if allowed and not have.intersection(allowed) and allowed[0] not in needed:
                needed.append(allowed[0])
        return tuple(needed)
