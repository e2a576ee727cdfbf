"""The ``_meta.scopes`` format an MCP server advertises in ``tools/list``, read strictly.

``[{name, description, tools: [...]}]`` (the mcp-oauth2-proxy format, anchors §1.7). Every
field is bounded: the names reach the consent screen and ``scopes_supported``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from ..config.model import ScopeConfig

MAX_SCOPES = 200
MAX_NAME = 128
MAX_DESCRIPTION = 500
MAX_TOOLS = 1000


class ScopeShapeError(ValueError):
    """``_meta.scopes`` is not the documented shape (the message says where)."""


def parse_scope_pages(metas: Iterable[Any]) -> tuple[ScopeConfig, ...]:
    """The scopes of every page's ``_meta``, merged in page order; raises ``ScopeShapeError``.

    Pages may each carry part of the list or repeat all of it (a server that adds the same
    ``_meta`` to every page). A name seen again must mean the same scope: two different
    definitions are ambiguous, so the whole result is refused rather than guessed at.
    """
    merged: dict[str, ScopeConfig] = {}
    for page, meta in enumerate(metas, start=1):
        if meta is None:
            continue
        if not isinstance(meta, dict):
            raise ScopeShapeError(f"page {page}: _meta is not an object")
        # Absent, or null as Go's encoding/json writes an empty slice: no scopes on this page.
        items = meta.get("scopes")
        if items is None:
            continue
        if not isinstance(items, list):
            raise ScopeShapeError(f"page {page}: _meta.scopes is not a list")
        for index, item in enumerate(items):
            scope = _parse_scope(item, f"page {page}: _meta.scopes[{index}]")
            known = merged.setdefault(scope.name, scope)
            if known != scope:
                raise ScopeShapeError(f"page {page}: scope {scope.name!r} is defined twice")
            if len(merged) > MAX_SCOPES:
                raise ScopeShapeError(f"more than {MAX_SCOPES} scopes")
    return tuple(merged.values())


def _parse_scope(item: Any, where: str) -> ScopeConfig:
    # Unknown members are ignored, as the Go predecessor's decoder did; only these three reach
    # the consent screen and scopes_supported, and each is checked.
    if not isinstance(item, dict):
        raise ScopeShapeError(f"{where} is not an object")
    name, description, tools = item.get("name"), item.get("description", ""), item.get("tools", [])
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise ScopeShapeError(f"{where}.name is not a string of 1 to {MAX_NAME} characters")
    if "\n" in name:  # ScopeConfig's pattern ends in "$", which also matches before a newline
        raise ScopeShapeError(f"{where}.name is not an RFC 6749 scope-token")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise ScopeShapeError(f"{where}.description is not a string of at most {MAX_DESCRIPTION}")
    if not isinstance(tools, list) or len(tools) > MAX_TOOLS:
        raise ScopeShapeError(f"{where}.tools is not a list of at most {MAX_TOOLS}")
    if not all(isinstance(tool, str) and 0 < len(tool) <= MAX_NAME for tool in tools):
        raise ScopeShapeError(f"{where}.tools has an entry that is not a tool name")
    try:
        # RFC 6749 §3.3 scope-token, and no offline_access: the AS grants that, not a host.
        return ScopeConfig(name=name, description=description, tools=tools)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ScopeShapeError(f"{where}.name {name!r}: {reason}") from None
