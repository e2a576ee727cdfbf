"""Which tools a request to an MCP server calls, read only from what the server is held to.

Two sources: the ``Mcp-Method`` / ``Mcp-Name`` headers of the 2026-07-28 transport, and the
JSON-RPC body when the gateway forwards it (Envoy ``with_request_body``, Envoy Gateway
``bodyToExtAuth``, Istio ``includeRequestBodyInCheck``, Traefik ``forwardBody``), batches
included. When both are present they must agree.

What an MCP server executes is what *its* parser reads. A body that two common parsers could
read differently is refused rather than read one way: duplicate members, members equal under
case folding (Go's encoding/json matches ``"NAME"`` and ``"param\\u017f"`` to ``name`` and
``params``), lone surrogates, non-finite numbers, anything but UTF-8, deep nesting. jiter
refuses most of these while it parses (in Rust, faster than the standard library); the folding
and the nesting depth are checked here. Header values are decoded as the MCP SDK decodes them
(the ``=?base64?…?=`` sentinel), and a malformed sentinel is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jiter

from ..bounded_json import UnboundedJson, check_depth

TOOLS_CALL = "tools/call"
#: Bodies above this are not parsed; Envoy's ``max_request_bytes`` should stay below it.
MAX_BODY_BYTES = 1_048_576
#: Deeper than any real JSON-RPC message; far below the point where parsers give up (Python
#: ~1000, Go 10000), so no parser disagreement hides behind a depth error.
MAX_DEPTH = 64
_SENTINEL = re.compile(r"=\?base64\?(?P<payload>.*)\?=", re.DOTALL)
#: Members of a JSON-RPC message and of ``tools/call`` params as an MCP server's structs name
#: them; a near miss ("Method", "NAME") is what a case-insensitive decoder would take instead.
_MESSAGE_MEMBERS = frozenset({"jsonrpc", "id", "method", "params", "result", "error"})
_PARAMS_MEMBERS = frozenset({"name", "arguments", "_meta", "cursor", "uri"})
#: Bounded: a client sending ever new member names only makes us fold them each time.
MAX_REMEMBERED_SHAPES = 4096
_DISTINCT_NAMES: set[tuple[str, ...]] = set()


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
    #: Each tool call's arguments, in the order of ``tools`` (``{}`` when it sends none), when
    #: the body was read; ``None`` when headers alone named the call (they carry none). Handed
    #: to the rules so they do not parse the body again; not part of what the request calls.
    arguments: tuple[Mapping[str, Any], ...] | None = field(default=None, compare=False)


def decode_header_value(value: str) -> str:
    """An ``Mcp-*`` header value as the MCP SDK server reads it before comparing with the body
    (2026-07-28 transports: non-ASCII or edge-whitespace values travel base64-wrapped)."""
    match = _SENTINEL.fullmatch(value)
    if match is None:
        return value
    payload = match.group("payload")
    try:
        decoded = base64.b64decode(payload, validate=True)
        # Only the canonical encoding: the SDK refuses any other, so must we.
        if base64.b64encode(decoded).decode("ascii") != payload:
            raise ValueError
        return decoded.decode("utf-8")
    except (binascii.Error, ValueError):
        raise UnreadableToolCall("an Mcp-* header carries a malformed base64 value") from None


def from_headers(method: str | None, name: str | None) -> ToolCalls | None:
    if method == "":
        raise UnreadableToolCall("Mcp-Method is empty or repeated")
    if name == "":
        raise UnreadableToolCall("Mcp-Name is empty or repeated")
    # A comma is a header list a proxy joined (Envoy does): which copy a server reads is
    # anyone's guess. No method, tool name or base64 value contains one.
    if "," in (method or "") or "," in (name or ""):
        raise UnreadableToolCall("an Mcp-* header holds a list")
    if method is None:
        if name is not None:
            raise UnreadableToolCall("Mcp-Name without Mcp-Method")
        return None
    method = decode_header_value(method)
    if method != TOOLS_CALL and method.casefold() == TOOLS_CALL:
        raise UnreadableToolCall("Mcp-Method is tools/call in another case")
    if method == TOOLS_CALL:
        if name is None:
            raise UnreadableToolCall("tools/call without Mcp-Name")
        return ToolCalls((method,), (decode_header_value(name),))
    return ToolCalls((method,), ())


def from_body(body: bytes) -> ToolCalls:
    """Every request in a JSON-RPC message or batch; responses and notifications count too."""
    message = parse_strict_json(body)
    items = message if isinstance(message, list) else [message]
    if not items:
        raise UnreadableToolCall("an empty JSON-RPC batch")
    methods: list[str] = []
    tools: list[str] = []
    arguments: list[Mapping[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise UnreadableToolCall("a JSON-RPC message must be an object")
        if not item.keys() <= _MESSAGE_MEMBERS:
            _exact_members(item, _MESSAGE_MEMBERS)
        method = item.get("method")
        if method is None:
            continue  # a response to a server request: calls nothing
        if not isinstance(method, str):
            raise UnreadableToolCall("a JSON-RPC method must be a string")
        methods.append(method)
        if method == TOOLS_CALL:
            params = item.get("params")
            if isinstance(params, dict) and not params.keys() <= _PARAMS_MEMBERS:
                _exact_members(params, _PARAMS_MEMBERS)
            name = params.get("name") if isinstance(params, dict) else None
            if not isinstance(name, str) or not name:
                raise UnreadableToolCall("tools/call without a tool name")
            tools.append(name)
            given = params.get("arguments") if isinstance(params, dict) else None
            arguments.append(given if isinstance(given, dict) else {})
    return ToolCalls(tuple(methods), tuple(tools), tuple(arguments))


def combine(headers: ToolCalls | None, body: ToolCalls | None) -> ToolCalls | None:
    """One view of the request; ``None`` when nothing says what it does."""
    if headers is None or body is None:
        return headers or body
    if headers.methods != body.methods or set(headers.tools) != set(body.tools):
        raise UnreadableToolCall("the Mcp-Method/Mcp-Name headers do not match the body")
    return body


def _exact_members(message: dict[str, Any], names: frozenset[str]) -> None:
    for member in message.keys() - names:
        if member.casefold() in names:
            raise UnreadableToolCall(f"the body has a member {member!r} that is not the protocol's")


def parse_strict_json(body: bytes) -> Any:
    """JSON that every common parser reads the same way, or ``UnreadableToolCall``."""
    if len(body) > MAX_BODY_BYTES:
        raise UnreadableToolCall("the body is too large to inspect")
    try:
        value = jiter.from_json(body, allow_inf_nan=False, catch_duplicate_keys=True)
    except ValueError as exc:
        # jiter's message quotes the client's input: only its kind is repeated.
        if str(exc).startswith("Detected duplicate key"):
            raise UnreadableToolCall("the body repeats a member name") from None
        raise UnreadableToolCall(
            "the body is not strict JSON (UTF-8, no NaN, no lone surrogates)"
        ) from None
    _check_member_names(value)
    # A body with fewer brackets than the limit cannot nest deeper: most skip the walk.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        try:
            check_depth(value, MAX_DEPTH)
        except UnboundedJson:
            raise UnreadableToolCall(f"the body nests deeper than {MAX_DEPTH} levels") from None
    return value


def _check_member_names(value: Any) -> None:
    """Every object's member names stay distinct under every parser's matching."""
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            if len(node) > 1:
                names = tuple(node)
                # Clients send the same few shapes again and again: a set of names already
                # found distinct under folding is not folded again.
                if names not in _DISTINCT_NAMES:
                    _remember_distinct(names)
            stack.extend(node.values())
        elif type(node) is list:
            stack.extend(node)


def _remember_distinct(names: tuple[str, ...]) -> None:
    # casefold() is full Unicode folding: it joins every pair Go's simple folding joins
    # (k and U+212A, s and U+017F) and more; refusing a few more look-alikes costs nothing real.
    if len({name.casefold() for name in names}) != len(names):
        raise UnreadableToolCall("the body has member names that differ only in case")
    if len(_DISTINCT_NAMES) < MAX_REMEMBERED_SHAPES:
        _DISTINCT_NAMES.add(names)
