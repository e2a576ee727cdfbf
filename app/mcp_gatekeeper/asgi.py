"""The service's ASGI application: ``/authenticate`` straight to its endpoint, the rest through
FastAPI.

The hot path needs nothing FastAPI and Starlette wrap around a route (the error middleware,
matching against every route, FastAPI's per-request telemetry check): together they cost more
than the token check itself (``research/perf.md`` §3b). The endpoint never raises (it fails
closed with a 403 by itself), so it runs behind the same observability middleware as every
other route and nothing else. ``answer_now`` lets the HTTP protocol answer a request without a
body before any ASGI machinery starts (``ops/hot_protocol.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from .ops.middleware import ImmediateAnswers, ReadyAnswer
from .paths import AUTHENTICATE_PATH

_AUTHENTICATE_BELOW = AUTHENTICATE_PATH + "/"


def is_hot_path(path: str) -> bool:
    return path == AUTHENTICATE_PATH or path.startswith(_AUTHENTICATE_BELOW)


def sending(answer: Callable[[Scope, Receive], Awaitable[ReadyAnswer]]) -> ASGIApp:
    """An endpoint that returns its answer, as an ASGI app that sends it."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        ready = await answer(scope, receive)
        start = {"type": "http.response.start", "status": ready.status, "headers": ready.headers}
        await send(start)
        await send({"type": "http.response.body", "body": ready.body})

    return endpoint


class GatekeeperApp(FastAPI):
    """FastAPI, with ``/authenticate`` and everything below it dispatched to ``hot_path``."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.hot_path: ASGIApp | None = None
        self.immediate: ImmediateAnswers | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hot_path is not None and is_hot_path(scope["path"]):
            await self.hot_path(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def answer_now(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], query_string: bytes
    ) -> ReadyAnswer | None:
        """The hot path's answer to a request without a body; ``None``: serve it as ASGI."""
        if self.immediate is None or not is_hot_path(path):
            return None
        return self.immediate.answer_now(method, path, headers, query_string)
