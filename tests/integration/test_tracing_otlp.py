"""Spans exported by OTLP/HTTP, as the service runs: a local receiver takes the protobuf POSTs to
/v1/traces and decodes them with opentelemetry-proto (what a collector does with them).

Both ways ``/authenticate`` is answered are traced: by the HTTP protocol while it parses a
request without a body (``ImmediateAnswers``), and through ASGI for a request with one.
"""

from __future__ import annotations

import gzip
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# The test extra installs the tracing extra: a missing SDK fails here, it does not skip.
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mcp_gatekeeper.asgi import GatekeeperApp
from mcp_gatekeeper.config import Config
from mcp_gatekeeper.main import create_app
from tests.integration.harness import free_port
from tests.integration.service import quiet_config, serving
from tests.integration.test_hot_protocol import CountingAnswer
from tests.support import config_dict, key_pool, mint

A = "a.example.test"
TOOL_CALL = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get"}}'


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """An OTLP/HTTP traces receiver on a loopback port: (its base URL, what it received)."""
    received: list[ExportTraceServiceRequest] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            ok = self.path == "/v1/traces"
            ok = ok and self.headers["Content-Type"] == "application/x-protobuf"
            if ok:
                received.append(ExportTraceServiceRequest.FromString(body))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def spans_of(received: list[ExportTraceServiceRequest]) -> list[tuple[dict[str, Any], Span]]:
    """Every span received, with its resource's attributes."""
    found: list[tuple[dict[str, Any], Span]] = []
    for request in received:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                found.extend((resource, span) for span in scope_spans.spans)
    return found


def attributes(span: Span) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        kind = value.WhichOneof("value")
        values[attribute.key] = (
            [item.string_value for item in value.array_value.values]
            if kind == "array_value"
            else getattr(value, kind)
        )
    return values


def test_decisions_are_exported_by_otlp_to_the_configured_receiver() -> None:
    """Two checks, one answered while parsing and one read through ASGI with its body, each
    continuing its gateway's trace; the spans reach the receiver by the time the service has
    stopped, under the configured service name."""
    with otlp_receiver() as (url, received):
        raw = config_dict()
        raw["tracing"] = {"endpoint": url, "serviceName": "gatekeeper-under-test"}
        app = create_app(Config.model_validate(raw), generate_key=key_pool())
        assert isinstance(app, GatekeeperApp) and app.hot_path is not None
        counting = CountingAnswer(app.hot_path)
        app.hot_path = counting
        parents = {}
        port = free_port()
        with serving(quiet_config(app, port=port)) as stop:
            base = f"http://127.0.0.1:{port}"
            token = mint(app, A, scopes=("read",))
            with httpx.Client(base_url=base) as client:
                for method, content in (("GET", None), ("POST", TOOL_CALL)):
                    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
                    parents[trace_id] = (parent, method)
                    answer = client.request(
                        method,
                        "/authenticate/mcp",
                        content=content,
                        headers={
                            "host": A,
                            "authorization": f"Bearer {token}",
                            "traceparent": f"00-{trace_id}-{parent}-01",
                        },
                    )
                    assert answer.status_code == 200, answer.text
            assert counting.calls == 1, "the GET was answered by the protocol, the POST by ASGI"
            stop()  # the lifespan's end flushes the batch
    exported = spans_of(received)
    assert len(exported) == 2
    for resource, span in exported:
        assert resource["service.name"] == "gatekeeper-under-test"
        assert span.name == "authenticate"
        assert span.kind == Span.SpanKind.SPAN_KIND_SERVER
        parent, method = parents[span.trace_id.hex()]
        assert span.parent_span_id.hex() == parent
        values = attributes(span)
        assert values["gatekeeper.result"] == "allowed" and values["gatekeeper.host"] == A
        assert values["http.response.status_code"] == 200
        assert values.get("gatekeeper.tools") == (["get"] if method == "POST" else None)
