"""Real MCP servers (the SDK's ``MCPServer`` over streamable HTTP) that advertise ``_meta.scopes``.

Each runs under uvicorn on a free 127.0.0.1 port in a thread and records every HTTP request it
gets, so tests can assert the wire. ``MCPServer`` has no setting for result-level ``_meta``; its
public seam is server middleware, which sees ``tools/list`` results as plain dicts (mcp 2.3), so a
middleware adds ``_meta`` and splits the tools into pages with ``nextCursor`` ("page-N").

An ASGI wrapper in front adds what the SDK will not do on purpose: answer like a server from
before 2026-07-28 (``modern=False``: 400 with a JSON-RPC error for any ``Mcp-Protocol-Version``
it does not know, "Bad Request: Unsupported protocol version", as the 1.x Python and TypeScript
SDK transports answer a ``server/discover`` probe), fail (``fail``), or hold ``tools/list`` while
``holding`` is set.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import jwt
import mcp_types as types
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.hosts import HostRegistry, McpHost
from tests.integration.service import serving

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
TOOLS_PER_PAGE = 2


@dataclass(frozen=True)
class Recorded:
    """One HTTP request as the server saw it."""

    http_method: str
    rpc_method: str | None
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Auth:
    """Accept only RS256 bearer tokens from ``jwks`` whose ``aud`` is ``resource``."""

    jwks: dict[str, Any]
    resource: str
    issuer: str


@dataclass(frozen=True)
class Variant:
    #: What to add to ``_meta`` on each page; the number of pages is the length.
    page_meta: Sequence[dict[str, Any] | None] = ({},)
    json_response: bool = True
    modern: bool = True
    auth: Auth | None = None
    fail: Literal["500", "garbage"] | None = None
    #: Send a log notification on the response stream before each ``tools/list`` result.
    notify_first: bool = False
    #: More tools, by name, after the ``tool_N`` ones.
    tools: Sequence[str] = ()


@dataclass
class RunningServer:
    url: str
    variant: Variant
    requests: list[Recorded] = field(default_factory=list)
    accepted_claims: list[dict[str, Any]] = field(default_factory=list)
    #: While set, ``tools/list`` requests wait (a slow server); ``stop()`` clears it.
    holding: threading.Event = field(default_factory=threading.Event)
    stop: Callable[[], None] = lambda: None

    def rpc_methods(self) -> list[str]:
        """``HTTP-METHOD rpc-method`` for each request, e.g. ``POST tools/list``, ``DELETE -``."""
        return [f"{r.http_method} {r.rpc_method or '-'}" for r in self.requests]


class JwksVerifier:
    """The SDK's ``TokenVerifier`` protocol, checking signature, issuer and audience."""

    def __init__(self, auth: Auth, accepted: list[dict[str, Any]]) -> None:
        self._auth = auth
        self._keys = jwt.PyJWKSet.from_dict(auth.jwks)
        self._accepted = accepted

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = self._keys[jwt.get_unverified_header(token)["kid"]]
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._auth.resource,
                issuer=self._auth.issuer,
            )
        except (jwt.PyJWTError, KeyError):
            return None
        self._accepted.append(claims)
        return AccessToken(
            token=token,
            client_id=claims["client_id"],
            scopes=claims["scopes"],
            expires_at=claims["exp"],
            resource=claims["aud"],
            subject=claims["sub"],
        )


def _paginate(variant: Variant) -> Any:
    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/list" and variant.notify_first:
            params = types.LoggingMessageNotificationParams(level="info", data="listing tools")
            await ctx.session.send_notification(
                types.LoggingMessageNotification(params=params), related_request_id=ctx.request_id
            )
        result = await call_next(ctx)
        if ctx.method != "tools/list" or not isinstance(result, dict):
            return result
        cursor = (ctx.params or {}).get("cursor")
        page = int(cursor.removeprefix("page-")) if isinstance(cursor, str) else 0
        last = page + 1 >= len(variant.page_meta)  # the last page lists the named tools too
        end = None if last else (page + 1) * TOOLS_PER_PAGE
        tools = result["tools"][page * TOOLS_PER_PAGE : end]
        paged = {**result, "tools": tools}
        if page + 1 < len(variant.page_meta):
            paged["nextCursor"] = f"page-{page + 1}"
        extra = variant.page_meta[page]
        if extra is not None:
            paged["_meta"] = {**result.get("_meta", {}), **extra}
        return paged

    return middleware


def _tool() -> str:
    return "ok"


def build_server(variant: Variant, accepted: list[dict[str, Any]]) -> MCPServer[Any]:
    auth: dict[str, Any] = {}
    if variant.auth is not None:
        auth = {
            "auth": AuthSettings(
                issuer_url=variant.auth.issuer,
                resource_server_url=variant.auth.resource,
                validate_token_resource=True,
            ),
            "token_verifier": JwksVerifier(variant.auth, accepted),
        }
    server: MCPServer[Any] = MCPServer(
        "scoped", version="1.0", middleware=[_paginate(variant)], log_level="WARNING", **auth
    )
    for index in range(len(variant.page_meta) * TOOLS_PER_PAGE):
        server.add_tool(_tool, name=f"tool_{index}", description=f"Tool {index}")
    for name in variant.tools:
        server.add_tool(_tool, name=name, description=name)
    return server


def _recorder(app: ASGIApp, running: RunningServer) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        messages: list[Message] = []
        while not messages or messages[-1].get("more_body", False):
            messages.append(await receive())
        raw = b"".join(m.get("body", b"") for m in messages)
        body = json.loads(raw) if raw else None
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rpc = body.get("method") if isinstance(body, dict) else None
        running.requests.append(Recorded(scope["method"], rpc, headers, body))
        variant = running.variant
        version = headers.get("mcp-protocol-version")
        # Auth comes first, as in the SDK, where RequireAuthMiddleware wraps the transport.
        unauthenticated = variant.auth is not None and "authorization" not in headers
        old_version = version is not None and version not in HANDSHAKE_VERSIONS
        if not variant.modern and old_version and not unauthenticated:
            error = {"code": -32600, "message": f"Unsupported protocol version: {version}"}
            await _respond(send, 400, json.dumps({"jsonrpc": "2.0", "id": None, "error": error}))
            return
        if rpc == "tools/list" and variant.fail == "500":
            await _respond(send, 500, "internal error")
            return
        if rpc == "tools/list" and variant.fail == "garbage":
            await _respond(send, 200, '{"jsonrpc": "2.0", "id": ', "application/json")
            return
        while rpc == "tools/list" and running.holding.is_set():
            await anyio.sleep(0.01)

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await app(scope, replay, send)

    return wrapped


async def _respond(send: Send, status: int, body: str, kind: str = "text/plain") -> None:
    headers = [(b"content-type", kind.encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


@contextmanager
def serve_mcp(variant: Variant) -> Iterator[RunningServer]:
    """Run ``variant`` on a free loopback port until the block ends (or ``stop()``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    running = RunningServer(url=f"http://127.0.0.1:{port}/mcp", variant=variant)
    mcp = build_server(variant, running.accepted_claims)
    app = mcp.streamable_http_app(json_response=variant.json_response, host="127.0.0.1")
    config = uvicorn.Config(
        _recorder(app, running),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    with serving(config, what="the MCP server", start_timeout=10, sockets=[sock]) as stop_server:

        def stop() -> None:
            running.holding.clear()
            stop_server()
            sock.close()

        running.stop = stop
        try:
            yield running
        finally:
            stop()


def make_host(endpoint: str | None, scopes: list[dict[str, Any]] | None = None) -> McpHost:
    """``db.example.test`` (resource ``https://db.example.test/mcp``) served at ``endpoint``."""
    entry: dict[str, Any] = {"host": "db.example.test", "scopes": scopes or []}
    if endpoint is not None:
        entry["endpoint"] = endpoint
    return HostRegistry(Config.model_validate({"proxy": {"hosts": [entry]}})).hosts[0]


async def wait_for_request(server: RunningServer, rpc: str) -> None:
    """Until the server has seen a ``rpc`` request (it records before it holds)."""
    for _ in range(500):
        if any(r.rpc_method == rpc for r in server.requests):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{rpc} never arrived")
