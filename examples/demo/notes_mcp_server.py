"""A small real MCP server for the demo and the end-to-end tests: notes kept in memory.

Run ``python examples/demo/notes_mcp_server.py --host 127.0.0.1 --port 0``; it prints
``READY http://HOST:PORT/mcp`` once listening (port 0 picks a free port). It has no auth of its
own: it sits behind a gateway whose forward-auth check (mcp-gatekeeper) lets only valid tokens
through and adds the identity headers, which the ``whoami`` tool echoes.

The ``tools/list`` result carries ``_meta.scopes`` (the mcp-oauth2-proxy format): which scope
covers which tools, for authorization servers that read scopes from the MCP server.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from typing import Any

import uvicorn
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

SCOPES: list[dict[str, Any]] = [
    {
        "name": "notes:read",
        "description": "Read your notes",
        "tools": ["list_notes", "read_note"],
    },
    {
        "name": "notes:write",
        "description": "Add and delete notes",
        "tools": ["add_note", "delete_note"],
    },
]
#: The identity headers mcp-gatekeeper's forward-auth answer adds (its default names).
IDENTITY_HEADERS = {
    "user": "x-auth-request-user",
    "email": "x-auth-request-email",
    "groups": "x-auth-request-groups",
    "scopes": "x-auth-request-scopes",
    # An agent acting for the user (token exchange); empty when the user's own client calls.
    "actor": "x-auth-request-actor",
}


async def scopes_meta(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: add ``_meta.scopes`` to every ``tools/list`` result."""
    result = await call_next(ctx)
    if ctx.method != "tools/list":
        return result
    if isinstance(result, BaseModel):
        meta = dict(getattr(result, "meta", None) or {})
        return result.model_copy(update={"meta": {**meta, "scopes": SCOPES}})
    if isinstance(result, dict):
        return {**result, "_meta": {**result.get("_meta", {}), "scopes": SCOPES}}
    return result


def build_server() -> MCPServer[Any]:
    notes: dict[str, str] = {"welcome": "This note was here before you."}
    server: MCPServer[Any] = MCPServer(
        "notes",
        instructions="A notebook: list, read, add and delete notes.",
        middleware=[scopes_meta],
        log_level="WARNING",
    )

    @server.tool()
    def list_notes() -> list[str]:
        """The titles of all notes."""
        return sorted(notes)

    @server.tool()
    def read_note(title: str) -> str:
        """The text of one note."""
        if title not in notes:
            raise ToolError(f"there is no note called {title!r}")
        return notes[title]

    @server.tool()
    def add_note(title: str, text: str) -> str:
        """Add a note (or replace the note with that title)."""
        notes[title] = text
        return f"saved {title!r}"

    @server.tool()
    def delete_note(title: str) -> str:
        """Delete a note."""
        if notes.pop(title, None) is None:
            raise ToolError(f"there is no note called {title!r}")
        return f"deleted {title!r}"

    @server.tool()
    def whoami(ctx: Context) -> dict[str, str]:
        """Who the gateway says is calling (the identity headers of the forward-auth check)."""
        headers = ctx.headers or {}
        return {key: headers.get(name, "") for key, name in IDENTITY_HEADERS.items()}

    return server


async def serve(host: str, port: int) -> None:
    # Plain JSON answers to POSTs (the transport allows either): nothing for a gateway to hold
    # open or cut short mid-stream, which keeps the demo simple behind every gateway.
    app = build_server().streamable_http_app(host=host, json_response=True)
    # Bind first, so port 0 works and READY names a port that already accepts connections.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"READY http://{shown}:{bound}/mcp", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
