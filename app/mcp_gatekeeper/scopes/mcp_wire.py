"""A minimal MCP client with one job: read every ``tools/list`` page from an MCP server.

It speaks the streamable HTTP transport as a real client does, so any conforming server answers:

* 2026-07-28 first: ``server/discover`` then ``tools/list``, stateless, each POST carrying the
  ``_meta`` envelope (protocol version, clientInfo, capabilities) and the ``Mcp-Protocol-Version``
  and ``Mcp-Method`` headers (basic/transports "Streamable HTTP", 2026-07-28). ``Mcp-Name`` is
  only for ``tools/call``, ``prompts/get`` and ``resources/read``, so it is never sent here.
* otherwise the handshake of 2025-11-25 and earlier: ``initialize`` → ``Mcp-Session-Id`` →
  ``notifications/initialized`` → ``tools/list`` pages → ``DELETE`` (basic/lifecycle,
  basic/transports §Session Management). Like the SDK's ``mode="auto"``, any answer to the probe
  other than a 401 or a network failure means "not a 2026-07-28 server" and falls back.

Replies may be ``application/json`` or ``text/event-stream`` (several events, notifications
first); the one whose ``id`` matches ours is the answer. The Go mcp-oauth2-proxy read only the
first page and sent an empty clientInfo (anchors §1.7, §8 item 9); this follows ``nextCursor``.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx

from .. import __version__
from .sse import TooLarge, read_capped, sse_messages

MODERN_VERSION = "2026-07-28"
#: What ``initialize`` offers: the newest handshake revision (MCP 2025-11-25 basic/lifecycle).
HANDSHAKE_VERSION = "2025-11-25"
#: Revisions a server may counter-offer over streamable HTTP that this client can follow.
HANDSHAKE_VERSIONS = frozenset({"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"})
CLIENT_INFO = {"name": "mcp-gatekeeper", "version": __version__}
ACCEPT = "application/json, text/event-stream"
#: The 2026-07-28 JSON-RPC error for a request whose Mcp-* headers differ from its body.
HEADER_MISMATCH = -32020
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class WireError(Exception):
    """The server answered, but not with what the protocol promises (the message says why)."""


class Unauthorized(WireError):
    """HTTP 401: the server wants a bearer token (MCP authorization, RFC 6750 §3)."""


class Unreachable(Exception):
    """No answer at all: connection refused, reset or timed out."""


@dataclass(frozen=True)
class ToolsListing:
    """The raw ``tools/list`` results, one per page, and the wire that produced them."""

    wire: str
    pages: tuple[Mapping[str, Any], ...]
    #: The server refuses a tools/call whose ``Mcp-Name`` is not the body's tool, so the
    #: headers of a 2026-07-28 request bind what it executes (checked, not assumed).
    headers_bind: bool = False


_PageFetcher = Callable[[str | None], Awaitable[Mapping[str, Any]]]


class McpWireClient:
    """Reads ``tools/list`` over streamable HTTP with an injected ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient, *, request_timeout: float, max_pages: int):
        self._client = client
        self._timeout = request_timeout
        self._max_pages = max_pages
        self._ids = itertools.count(1)

    async def list_tools(self, url: str, bearer: str | None = None) -> ToolsListing:
        auth = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        try:
            discovered = await self._discover(url, auth)
        except Unauthorized:
            raise
        except WireError:
            discovered = False  # not a 2026-07-28 server: the SDK's auto mode falls back too
        if discovered:
            pages = await self._modern_pages(url, auth)
            return ToolsListing(MODERN_VERSION, pages, await self._refuses_mismatch(url, auth))
        return ToolsListing(HANDSHAKE_VERSION, await self._handshake_pages(url, auth))

    async def _discover(self, url: str, auth: dict[str, str]) -> bool:
        result = await self._rpc(url, "server/discover", self._envelope(), self._modern(auth))
        versions = result.get("supportedVersions")
        # A server that answers but lists no modern revision is a legacy advertisement (go-sdk's
        # stateful default does this); the SDK client falls back to initialize there as well.
        return isinstance(versions, list) and MODERN_VERSION in versions

    async def _refuses_mismatch(self, url: str, auth: dict[str, str]) -> bool:
        """Call a tool that does not exist, naming it in ``Mcp-Name`` in another case: a server
        that compares headers with the body exactly answers HEADER_MISMATCH; one that does not
        runs nothing. The same call with matching headers must not get that answer (so it came
        from the comparison, not from something else about the call)."""
        name = f"mcp-gatekeeper-check-{secrets.token_hex(8)}"
        return await self._header_check(url, auth, name, name.upper()) and not (
            await self._header_check(url, auth, name, name)
        )

    async def _header_check(
        self, url: str, auth: dict[str, str], name: str, header_name: str
    ) -> bool:
        """Whether a tools/call of ``name`` with ``Mcp-Name: header_name`` gets HEADER_MISMATCH."""
        request_id = next(self._ids)
        body = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": self._envelope() | {"name": name},
        }
        headers = self._modern(auth, "tools/call") | {"Mcp-Name": header_name}
        try:
            async with self._post(url, body, headers) as response:
                if response.status_code == 401:
                    raise Unauthorized("tools/call answered 401 Unauthorized")
                # A refusal may come with a 4xx status; its body still says why.
                reply = await _read_reply(response, request_id, "tools/call")
        except (WireError, Unreachable) as exc:
            if isinstance(exc, Unauthorized):
                raise
            return False
        error = reply.get("error") if reply is not None else None
        return isinstance(error, dict) and error.get("code") == HEADER_MISMATCH

    async def _modern_pages(self, url: str, auth: dict[str, str]) -> tuple[Mapping[str, Any], ...]:
        async def page(cursor: str | None) -> Mapping[str, Any]:
            params = self._envelope() | ({"cursor": cursor} if cursor is not None else {})
            return await self._rpc(url, "tools/list", params, self._modern(auth, "tools/list"))

        return await self._paginate(page)

    async def _handshake_pages(
        self, url: str, auth: dict[str, str]
    ) -> tuple[Mapping[str, Any], ...]:
        init = {"protocolVersion": HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}
        result, session = await self._rpc_with_session(url, "initialize", init, auth)
        version = result.get("protocolVersion")
        headers = dict(auth)
        if session is not None:
            headers["Mcp-Session-Id"] = session
        try:
            # "If the client does not support the version in the server's response, it SHOULD
            # disconnect" (basic/lifecycle §Version Negotiation): we still end the session below.
            if version not in HANDSHAKE_VERSIONS:
                raise WireError(f"the server answered initialize with protocol version {version!r}")
            # Every request after initialize carries the negotiated version (2025-06-18 on).
            headers["Mcp-Protocol-Version"] = str(version)
            await self._notify(url, "notifications/initialized", headers)

            async def page(cursor: str | None) -> Mapping[str, Any]:
                params = {"cursor": cursor} if cursor is not None else None
                return await self._rpc(url, "tools/list", params, headers)

            return await self._paginate(page)
        finally:
            if session is not None:
                await self._end_session(url, headers)

    async def _paginate(self, fetch: _PageFetcher) -> tuple[Mapping[str, Any], ...]:
        pages: list[Mapping[str, Any]] = []
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            result = await fetch(cursor)
            pages.append(result)
            next_cursor = result.get("nextCursor")
            if next_cursor is None:
                return tuple(pages)
            # basic/utilities/pagination: the cursor is an opaque string; a repeat would loop.
            if not isinstance(next_cursor, str) or next_cursor in seen:
                raise WireError("tools/list returned an invalid or repeated nextCursor")
            if len(pages) >= self._max_pages:
                raise WireError(f"tools/list has more than {self._max_pages} pages")
            seen.add(next_cursor)
            cursor = next_cursor

    @staticmethod
    def _envelope() -> dict[str, Any]:
        """2026-07-28 basic/index "Per-request protocol fields": no handshake carries these."""
        return {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
                "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        }

    @staticmethod
    def _modern(auth: dict[str, str], method: str = "server/discover") -> dict[str, str]:
        return auth | {"Mcp-Protocol-Version": MODERN_VERSION, "Mcp-Method": method}

    async def _notify(self, url: str, method: str, headers: dict[str, str]) -> None:
        body = {"jsonrpc": "2.0", "method": method}
        async with self._post(url, body, headers) as response:
            _raise_for_status(response, method)

    async def _end_session(self, url: str, headers: dict[str, str]) -> None:
        """Best effort: a 405 means the server does not let clients end sessions (allowed)."""
        try:
            await self._client.delete(url, headers=headers, timeout=min(self._timeout, 2.0))
        except httpx.HTTPError:
            pass  # the server reaps idle sessions itself; nothing more we can do

    async def _rpc(
        self, url: str, method: str, params: Mapping[str, Any] | None, headers: dict[str, str]
    ) -> Mapping[str, Any]:
        return (await self._rpc_with_session(url, method, params, headers))[0]

    async def _rpc_with_session(
        self, url: str, method: str, params: Mapping[str, Any] | None, headers: dict[str, str]
    ) -> tuple[Mapping[str, Any], str | None]:
        request_id = next(self._ids)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            body["params"] = params
        async with self._post(url, body, headers) as response:
            _raise_for_status(response, method)
            reply = await _read_reply(response, request_id, method)
            session = response.headers.get("mcp-session-id")
        if reply is None:
            raise WireError(f"{method} got no JSON-RPC response with our request's id")
        if "error" in reply:
            raise WireError(f"{method} failed: {_error_text(reply['error'])}")
        result = reply.get("result")
        if not isinstance(result, dict):
            raise WireError(f"{method} returned a result that is not an object")
        return result, session

    def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> _Exchange:
        return _Exchange(self._client, url, body, headers, self._timeout)


class _Exchange:
    """One POST as an async context manager that turns transport failures into ``Unreachable``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        timeout: float,
    ) -> None:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json", **headers}
        self._stream = client.stream(
            "POST", url, content=json.dumps(body), headers=headers, timeout=timeout
        )

    async def __aenter__(self) -> httpx.Response:
        try:
            return await self._stream.__aenter__()
        except httpx.HTTPError as exc:
            raise Unreachable(f"{exc!r}") from exc

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._stream.__aexit__(*exc_info)


async def _read_reply(
    response: httpx.Response, request_id: int, method: str
) -> dict[str, Any] | None:
    """The JSON-RPC answer to ``request_id`` in a JSON or SSE response, ``None`` if absent."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            message = _decode(await read_capped(response, MAX_RESPONSE_BYTES))
            return message if _answers(message, request_id) else None
        if kind == "text/event-stream":
            return await _first_reply(response, request_id)
        raise WireError(f"{method} answered with content type {kind or 'none'!r}")
    except TooLarge as exc:
        raise WireError(f"{method}: {exc}") from None
    except httpx.HTTPError as exc:
        raise Unreachable(f"{method}: reading the response failed ({exc!r})") from exc


def _raise_for_status(response: httpx.Response, method: str) -> None:
    if response.status_code == 401:
        raise Unauthorized(f"{method} answered 401 Unauthorized")
    if not 200 <= response.status_code < 300:
        raise WireError(f"{method} answered HTTP {response.status_code}")


def _answers(message: Any, request_id: int) -> bool:
    return (
        isinstance(message, dict)
        and message.get("id") == request_id
        and ("result" in message or "error" in message)
    )


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # ValueError covers UnicodeDecodeError too
        raise WireError(f"the response is not JSON ({type(exc).__name__})") from None


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        # repr: the server's text goes to our log, so newlines and escapes stay visible.
        return f"JSON-RPC error {error.get('code')!r}: {str(error.get('message'))[:200]!r}"
    return "malformed JSON-RPC error"


async def _first_reply(response: httpx.Response, request_id: int) -> dict[str, Any] | None:
    """Read SSE events until the response to ``request_id``; notifications before it are skipped."""
    async with aclosing(sse_messages(response, MAX_RESPONSE_BYTES)) as messages:
        async for data in messages:
            message = _decode(data.encode())
            if _answers(message, request_id):
                reply: dict[str, Any] = message
                return reply
    return None
