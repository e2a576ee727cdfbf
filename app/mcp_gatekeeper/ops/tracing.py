"""OpenTelemetry traces, seen from the code that serves requests: no OpenTelemetry here.

One span per request, continuing the gateway's W3C ``traceparent``: the ``/authenticate``
decision (its result, host, tools and rule) or the OAuth step (authorize, callback, consent,
token by grant, register, revoke, the device flow). The middleware starts and ends it
(``ops/middleware.py``), the code that decides names what it decided, and every audit event of
the request carries its trace id (``ops/audit.py``).

Configured (``tracing.endpoint``), ``build_tracer`` imports the SDK (``ops/otel.py``). Not
configured, nothing of it is imported, the middleware and the hot path run exactly as without
tracing, and what the flows call here costs a context variable read that finds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import Protocol

from ..config.tracing import TracingConfig

#: Attribute bounds: a request may name any number of tools, of any length.
MAX_TOOLS = 16
MAX_ATTRIBUTE_CHARS = 200
DECISION_SPAN = "authenticate"


class RequestSpan(Protocol):
    """The span of the request being served."""

    def set(self, key: str, value: str | int | Sequence[str]) -> None: ...
    def rename(self, name: str) -> None: ...
    def add_event(self, name: str) -> None: ...
    def ids(self) -> tuple[str, str]:
        """The trace id and span id, as lower-case hex (W3C Trace Context)."""
        ...

    def end(self, status: int) -> None: ...


class Tracer(Protocol):
    def start(self, name: str, headers: Sequence[tuple[bytes, bytes]]) -> RequestSpan:
        """A server span, the child of the request's ``traceparent`` if it has a valid one."""
        ...

    def shutdown(self) -> None:
        """Exports what is still buffered (blocks up to the export timeout)."""
        ...


#: Set by the middleware for the request it traces; ``None`` when tracing is off.
current_span: ContextVar[RequestSpan | None] = ContextVar("current_span", default=None)


def build_tracer(config: TracingConfig) -> Tracer | None:
    if not config.enabled:
        return None
    from .otel import OtelTracer  # the SDK: imported only when tracing is configured

    return OtelTracer.exporting(config)


def _bounded(value: object) -> str:
    return str(value)[:MAX_ATTRIBUTE_CHARS]


def record_decision(
    host: str, result: str, tools: Sequence[str] = (), rule: object | None = None
) -> None:
    """What ``/authenticate`` decided, on its span. Never the token nor any claim of it: the
    audit event (same trace id) names who asked."""
    span = current_span.get()
    if span is None:
        return
    span.rename(DECISION_SPAN)
    span.set("gatekeeper.result", result)
    span.set("gatekeeper.host", _bounded(host))
    if tools:
        span.set("gatekeeper.tools", [_bounded(tool) for tool in tools[:MAX_TOOLS]])
    if rule is not None:
        span.set("gatekeeper.rule", _bounded(rule))


def oauth_step(step: str, **attributes: str) -> None:
    """Names the request's span after the OAuth step it serves (``oauth.token``...), with
    attributes of bounded values (a grant type this server knows, never a credential)."""
    span = current_span.get()
    if span is None:
        return
    span.rename(f"oauth.{step}")
    span.set("gatekeeper.oauth.step", step)
    for key, value in attributes.items():
        span.set(f"gatekeeper.oauth.{key}", _bounded(value))
