"""JSON from someone else, parsed within bounds: a size and a nesting depth.

Python's parser recurses once per level and gives up with ``RecursionError`` (not a
``ValueError``) near 1000 levels, which callers did not expect: deep nesting then became a 500
and a traceback. Here it is an ordinary ``ValueError``, like any other unreadable JSON, so every
caller's existing "not JSON" answer covers it. Forwarded MCP bodies have their own stricter
parser (``forward_auth.tool_calls.parse_strict_json``), with the same depth.
"""

from __future__ import annotations

import json
from typing import Any

#: Deeper than any real OAuth, OIDC or client metadata document; far below Python's limit.
MAX_DEPTH = 64


class UnboundedJson(ValueError):
    """Too large or too deeply nested to be read."""


def loads(data: bytes | str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in ``data`` (UTF-8), or ``ValueError`` (``UnboundedJson`` past a bound)."""
    if max_bytes is not None and len(data) > max_bytes:
        raise UnboundedJson(f"the JSON is larger than {max_bytes} bytes")
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        value = json.loads(text)
    except RecursionError:
        raise UnboundedJson(f"the JSON nests deeper than {max_depth} levels") from None
    # Only a document with more brackets than the depth allows can nest too deep: the common,
    # shallow one skips the walk.
    if text.count("[") + text.count("{") > max_depth:
        check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """``UnboundedJson`` if ``value`` (parsed JSON) nests deeper than ``max_depth``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise UnboundedJson(f"the JSON nests deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)
