"""CORS for the public, credential-less documents (metadata, JWKS; later /token, /register).

``*`` without credentials: browser-based MCP clients (MCP Inspector, web assistants) must be able
to read discovery documents from any origin, and nothing here depends on cookies.
"""

from __future__ import annotations

from fastapi import Response

ALLOW_HEADERS = "Authorization, Content-Type, MCP-Protocol-Version"
PUBLIC_CORS = {"Access-Control-Allow-Origin": "*"}


def preflight(methods: str) -> Response:
    return Response(
        status_code=204,
        headers={
            **PUBLIC_CORS,
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "86400",
        },
    )
