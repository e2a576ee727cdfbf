"""The ``Tracer`` of ``ops/tracing.py`` on the OpenTelemetry SDK, exporting by OTLP/HTTP.

Imported only when ``tracing.endpoint`` is set. Each app has its own tracer provider (never the
process-global one), so several apps in one process (tests, workers) keep their spans apart.
Spans go out in batches from the SDK's own thread: a request never waits for the collector.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .. import __version__
from ..config.tracing import TracingConfig

#: The only request headers read: W3C Trace Context (never Authorization, never cookies).
_CONTEXT_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate"}


class OtelSpan:
    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    def set(self, key: str, value: str | int | Sequence[str]) -> None:
        self._span.set_attribute(key, value)

    def rename(self, name: str) -> None:
        self._span.update_name(name)

    def add_event(self, name: str) -> None:
        self._span.add_event(name)

    def ids(self) -> tuple[str, str]:
        context = self._span.get_span_context()
        return format_trace_id(context.trace_id), format_span_id(context.span_id)

    def end(self, status: int) -> None:
        self._span.set_attribute("http.response.status_code", status)
        if status >= 500:  # a refusal (4xx) is the service working, not an error of it
            self._span.set_status(Status(StatusCode.ERROR))
        self._span.end()


class OtelTracer:
    def __init__(self, config: TracingConfig, exporter: SpanExporter, *, batch: bool = True):
        # ParentBased: a gateway that sampled a trace gets our span in it, one that did not
        # gets none; the ratio decides only for requests that come without a traceparent.
        sampler = ParentBased(TraceIdRatioBased(config.sampling_ratio))
        resource = Resource.create(
            {"service.name": config.service_name, "service.version": __version__}
        )
        self._provider = TracerProvider(sampler=sampler, resource=resource)
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self._provider.add_span_processor(processor)
        self._tracer = self._provider.get_tracer("mcp_gatekeeper", __version__)
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def exporting(cls, config: TracingConfig) -> OtelTracer:
        exporter = OTLPSpanExporter(
            endpoint=config.traces_url,
            headers={name: value.get_secret_value() for name, value in config.headers.items()},
            timeout=config.timeout.total_seconds(),
        )
        return cls(config, exporter)

    def start(self, name: str, headers: Sequence[tuple[bytes, bytes]]) -> OtelSpan:
        carrier: dict[str, str] = {}
        for header, value in headers:  # names arrive lower-cased (uvicorn, ASGI)
            key = _CONTEXT_HEADERS.get(header)
            if key is not None:
                carrier[key] = value.decode("latin-1")
        # An invalid traceparent is ignored by the propagator: the span starts a new trace.
        parent = self._propagator.extract(carrier) if carrier else None
        return OtelSpan(self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER))

    def shutdown(self) -> None:
        self._provider.shutdown()
