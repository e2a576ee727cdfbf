"""The service's ASGI application: ``/authenticate`` straight to its endpoint, the rest through
FastAPI.

The hot path needs nothing FastAPI and Starlette wrap around a route (the error middleware,
matching against every route, FastAPI's per-request telemetry check): together they cost more
than the token check itself (``research/perf.md`` §3b). The endpoint never raises (it fails
closed with a 403 by itself), so it runs behind the same observability middleware as every
other route (request id, latency by route template, the audit counter) and nothing else.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from .paths import AUTHENTICATE_PATH

_AUTHENTICATE_BELOW = AUTHENTICATE_PATH + "/"


class GatekeeperApp(FastAPI):
    """FastAPI, with ``/authenticate`` and everything below it dispatched to ``hot_path``."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.hot_path: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hot_path is not None:
            path = scope["path"]
            if path == AUTHENTICATE_PATH or path.startswith(_AUTHENTICATE_BELOW):
                await self.hot_path(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
