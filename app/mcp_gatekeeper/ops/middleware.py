"""Outermost ASGI middleware: request id for the logs, latency by route template for metrics,
and the app's counter for the audit events the request raises.

``ImmediateAnswers`` does the same for ``/authenticate`` requests the HTTP protocol answers
while it parses them (``hot_protocol.py``), where there is no ASGI call to wrap.

With a tracer (``ops/tracing.py``) both also give each request its span, current while it is
served; without one they are built exactly as before, so tracing off costs nothing per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..paths import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH
from .audit import event_counter
from .logging import NO_REQUEST_ID, request_id
from .metrics import Metrics
from .tracing import Tracer, current_span

_MAX_REQUEST_ID = 128
#: Methods outside this set share one label value, so clients cannot inflate cardinality.
_KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: Probes and scrapes every few seconds: a trace each would drown the ones that matter.
_UNTRACED = frozenset({HEALTHZ_PATH, READYZ_PATH, METRICS_PATH})


class ReadyAnswer(Protocol):
    """A complete response: status, raw headers (``content-length`` included) and body."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> tuple[tuple[bytes, bytes], ...]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def wire_headers(self) -> bytes: ...


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            return value[:_MAX_REQUEST_ID].decode("latin-1")
    return NO_REQUEST_ID


def _method_label(method: str) -> str:
    return method if method in _KNOWN_METHODS else "OTHER"


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
        tracer: Tracer | None = None,
    ) -> None:
        self.app = app
        # HTTP requests only: lifespan and websocket scopes are passed on untraced.
        self.serve = (
            app if tracer is None else _traced_app(app, tracer, exact_routes, prefix_routes)
        )
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
        token = request_id.set(_request_id(scope["headers"]))
        counter = event_counter.set(self.count_event)

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.serve(scope, receive, send_with_status)
        finally:
            event_counter.reset(counter)
            request_id.reset(token)
            route = route_template(scope["path"], self.exact_routes, self.prefix_routes)
            self.metrics.observe_request(
                route, _method_label(scope["method"]), status, time.perf_counter() - started
            )


AnswerAtOnce = Callable[[str, str, list[tuple[bytes, bytes]], bytes], ReadyAnswer | None]


class ImmediateAnswers:
    """Answers given without awaiting anything, observed as the middleware observes a route."""

    def __init__(
        self,
        answer_at_once: AnswerAtOnce,
        metrics: Metrics,
        exact_routes: frozenset[str],
        prefix_routes: tuple[str, ...],
        tracer: Tracer | None = None,
    ) -> None:
        if tracer is not None:
            answer_at_once = _traced_answers(answer_at_once, tracer, exact_routes, prefix_routes)
        self.answer_at_once = answer_at_once
        self.observe = metrics.observe_request
        self.count_event = metrics.count_event
        self.exact_routes = exact_routes
        self.prefix_routes = prefix_routes

    def answer_now(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], query_string: bytes
    ) -> ReadyAnswer | None:
        """The answer, if the request has no body to wait for; ``None`` otherwise."""
        started = time.perf_counter()
        token = request_id.set(_request_id(headers))
        counter = event_counter.set(self.count_event)
        try:
            answer = self.answer_at_once(method, path, headers, query_string)
        finally:
            event_counter.reset(counter)
            request_id.reset(token)
        if answer is not None:
            route = route_template(path, self.exact_routes, self.prefix_routes)
            self.observe(route, _method_label(method), answer.status, time.perf_counter() - started)
        return answer


def _span_name(method: str, path: str, exact: frozenset[str], prefix: tuple[str, ...]) -> str:
    return f"{_method_label(method)} {route_template(path, exact, prefix)}"


def _traced_app(
    app: ASGIApp, tracer: Tracer, exact: frozenset[str], prefix: tuple[str, ...]
) -> ASGIApp:
    async def traced(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] in _UNTRACED:
            await app(scope, receive, send)
            return
        name = _span_name(scope["method"], scope["path"], exact, prefix)
        span = tracer.start(name, scope["headers"])
        status = 500
        token = current_span.set(span)

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_with_status)
        finally:
            current_span.reset(token)
            span.end(status)

    return traced


def _traced_answers(
    answer_at_once: AnswerAtOnce, tracer: Tracer, exact: frozenset[str], prefix: tuple[str, ...]
) -> AnswerAtOnce:
    def traced(
        method: str, path: str, headers: list[tuple[bytes, bytes]], query_string: bytes
    ) -> ReadyAnswer | None:
        span = tracer.start(_span_name(method, path, exact, prefix), headers)
        token = current_span.set(span)
        answer: ReadyAnswer | None = None
        try:
            answer = answer_at_once(method, path, headers, query_string)
        finally:
            current_span.reset(token)
            if answer is not None:
                span.end(answer.status)
        # None: the request has a body and is served again as ASGI, with a span of its own.
        return answer

    return traced
