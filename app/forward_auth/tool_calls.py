"""Which tools a request to an MCP server calls, as far as the gateway lets us see.

Two sources: the ``Mcp-Method`` / ``Mcp-Name`` headers of the 2026-07-28 transport, and the
JSON-RPC body when the gateway forwards it (Envoy ``with_request_body``, Envoy Gateway
``bodyToExtAuth``, Istio ``includeRequestBodyInCheck``, Traefik ``forwardBody``), batches
included. When both are present they must agree: a client that says one thing in the headers and
does another in the body is refused, not believed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

TOOLS_CALL = "tools/call"
#: Bodies above this are not parsed; Envoy's ``max_request_bytes`` should stay below it.
MAX_BODY_BYTES = 1_048_576


class UnreadableToolCall(Exception):
    """The request's tool cannot be determined safely (bad body, headers and body disagree)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The JSON-RPC methods of a request and the tools it calls (``tools/call`` names)."""

    methods: tuple[str, ...]
    tools: tuple[str, ...]


def from_headers(method: str | None, name: str | None) -> ToolCalls | None:
    if method == "":
        raise UnreadableToolCall("Mcp-Method is empty or repeated")
    if method is None:
        if name is not None:
            raise UnreadableToolCall("Mcp-Name without Mcp-Method")
        return None
    if method == TOOLS_CALL:
        if not name:
            raise UnreadableToolCall("tools/call without Mcp-Name")
        return ToolCalls((method,), (name,))
    return ToolCalls((method,), ())


def from_body(body: bytes) -> ToolCalls:
    """Every request in a JSON-RPC message or batch; responses and notifications count too."""
    if len(body) > MAX_BODY_BYTES:
        raise UnreadableToolCall("the body is too large to inspect")
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise UnreadableToolCall("the body is not JSON") from None
    items = message if isinstance(message, list) else [message]
    if not items:
        raise UnreadableToolCall("an empty JSON-RPC batch")
    methods: list[str] = []
    tools: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            raise UnreadableToolCall("a JSON-RPC message must be an object")
        method = item.get("method")
        if method is None:
            continue  # a response to a server request: calls nothing
        if not isinstance(method, str):
            raise UnreadableToolCall("a JSON-RPC method must be a string")
        methods.append(method)
        if method == TOOLS_CALL:
            params = item.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            if not isinstance(name, str) or not name:
                raise UnreadableToolCall("tools/call without a tool name")
            tools.append(name)
    return ToolCalls(tuple(methods), tuple(tools))


def combine(headers: ToolCalls | None, body: ToolCalls | None) -> ToolCalls | None:
    """One view of the request; ``None`` when nothing says what it does."""
    if headers is None or body is None:
        return headers or body
    if headers.methods != body.methods or set(headers.tools) != set(body.tools):
        raise UnreadableToolCall("the Mcp-Method/Mcp-Name headers do not match the body")
    return body
