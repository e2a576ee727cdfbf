"""Outermost ASGI middleware: request id for the logs, latency by route template for metrics,
and the app's counter for the audit events the request raises.

Pure ASGI (no ``BaseHTTPMiddleware``): it sits on the ``/authenticate`` hot path.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .audit import event_counter
from .logging import NO_REQUEST_ID, request_id
from .metrics import Metrics

_MAX_REQUEST_ID = 128
#: Methods outside this set share one label value, so clients cannot inflate cardinality.
_KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def route_template(path: str, exact_routes: frozenset[str], prefix_routes: tuple[str, ...]) -> str:
    if path in exact_routes:
        return path
    for prefix in prefix_routes:
        if path.startswith(prefix):
            return prefix + "{path}"
    return "other"


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        exact_routes: frozenset[str],
        prefix_routes: tuple[str, ...],
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Bound once: a fresh bound method per request would be an allocation on the hot path.
        self.count_event = metrics.count_event
        self.exact_routes = exact_routes
        self.prefix_routes = prefix_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        rid = NO_REQUEST_ID
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value[:_MAX_REQUEST_ID].decode("latin-1")
                break
        token = request_id.set(rid)
        counter = event_counter.set(self.count_event)

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            event_counter.reset(counter)
            request_id.reset(token)
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            route = route_template(scope["path"], self.exact_routes, self.prefix_routes)
            self.metrics.observe_request(route, method, status, time.perf_counter() - started)
