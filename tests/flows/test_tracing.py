"""OpenTelemetry spans, exported in memory: the gateway's trace continued at /authenticate with
what was decided, one span per OAuth step, and audit events that name the same trace."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

# The test extra installs the tracing extra: a missing SDK fails here, it does not skip.
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.ops.otel import OtelTracer
from tests.audit_lines import audit_lines, schema_errors
from tests.flows.driver import Driver
from tests.support import config_dict, mint, running

A = "a.example.test"
TOOL_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get"}}


def traced_config(**tracing: Any) -> Config:
    raw = config_dict()
    raw["tracing"] = {"endpoint": "http://127.0.0.1:9/", **tracing}  # never reached: in memory
    return Config.model_validate(raw)


def traceparent() -> tuple[str, str, str]:
    """A gateway's sampled W3C traceparent: (header, trace id, parent span id)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


@asynccontextmanager
async def traced(
    config: Config | None = None,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter]]:
    config = config or traced_config()
    exporter = InMemorySpanExporter()
    tracer = OtelTracer(config.tracing, exporter, batch=False)
    async with running(config, base_url=f"https://{A}", tracer=tracer) as (app, client):
        yield app, client, exporter


def only(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    named = [span for span in spans if span.name == name]
    assert len(named) == 1, [span.name for span in spans]
    return named[0]


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


async def test_a_decision_continues_the_gateways_trace() -> None:
    """The gateway's traceparent is the decision span's parent: same trace id, its span id as
    the parent; the span says what was decided, for which host and tool."""
    async with traced() as (app, client, exporter):
        header, trace_id, parent_id = traceparent()
        token = mint(app, A, scopes=("read",))
        answer = await client.post(
            "/authenticate/mcp",
            headers={"host": A, "authorization": f"Bearer {token}", "traceparent": header},
            json=TOOL_CALL,
        )
        assert answer.status_code == 200, answer.text
    span = only(exporter.get_finished_spans(), "authenticate")
    assert hex_ids(span)[0] == trace_id
    assert span.parent is not None and f"{span.parent.span_id:016x}" == parent_id
    assert span.parent.is_remote
    attributes = dict(span.attributes or {})
    assert attributes["gatekeeper.result"] == "allowed"
    assert attributes["gatekeeper.host"] == A
    assert attributes["gatekeeper.tools"] == ("get",)
    assert attributes["http.response.status_code"] == 200


async def test_a_denial_is_on_the_span_and_its_audit_event_names_the_trace() -> None:
    """A tool refused for its scope: the span has the result and tool, and the audit event
    carries the span's trace and span ids, so a SIEM joins the gateway's trace to the user.
    Neither the token nor the Authorization header is in the span."""
    async with traced() as (app, client, exporter):
        header, trace_id, _ = traceparent()
        token = mint(app, A, scopes=())
        with audit_lines() as lines:
            answer = await client.post(
                "/authenticate/mcp",
                headers={"host": A, "authorization": f"Bearer {token}", "traceparent": header},
                json=TOOL_CALL,
            )
        assert answer.status_code == 403
    span = only(exporter.get_finished_spans(), "authenticate")
    attributes = dict(span.attributes or {})
    assert attributes["gatekeeper.result"] == "insufficient_scope"
    assert attributes["gatekeeper.tools"] == ("get",)
    (denied,) = [line for line in lines if line["event"] == "request_denied"]
    assert (denied["trace_id"], denied["span_id"]) == hex_ids(span)
    assert denied["trace_id"] == trace_id and denied["sub"] == "alice"
    assert [event.name for event in span.events] == ["request_denied"]
    everything = json.dumps([str(value) for value in attributes.values()])
    assert token not in everything and "Bearer" not in everything


async def test_a_request_without_traceparent_starts_a_trace_and_a_bad_one_is_ignored() -> None:
    async with traced() as (_app, client, exporter):
        for headers in ({}, {"traceparent": "00-not-a-trace-01"}):
            answer = await client.get("/authenticate", headers={"host": A, **headers})
            assert answer.status_code == 401
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["authenticate", "authenticate"]
    assert all(span.parent is None for span in spans)
    assert len({hex_ids(span)[0] for span in spans}) == 2
    assert {dict(span.attributes or {})["gatekeeper.result"] for span in spans} == {"no_token"}


async def test_a_gateway_that_did_not_sample_gets_no_span_but_the_audit_keeps_its_trace() -> None:
    """ParentBased sampling: the gateway's decision holds (flags 00); the audit event still
    carries the trace id, which the gateway's own logs have too."""
    async with traced(traced_config(samplingRatio=1.0)) as (_app, client, exporter):
        trace_id = secrets.token_hex(16)
        unsampled = f"00-{trace_id}-{secrets.token_hex(8)}-00"
        with audit_lines() as lines:
            headers = {"host": A, "authorization": "Bearer nope", "traceparent": unsampled}
            assert (await client.get("/authenticate", headers=headers)).status_code == 401
    assert exporter.get_finished_spans() == ()
    (denied,) = [line for line in lines if line["event"] == "request_denied"]
    assert denied["trace_id"] == trace_id and denied["result"] == "invalid_token"


async def test_each_oauth_step_has_its_span_in_the_clients_trace() -> None:
    """A login from registration to a refreshed and revoked token: one span per step, named
    after it, token spans by grant; the steps' audit events carry their span's ids."""
    async with traced() as (_app, client, exporter):
        header, trace_id, _ = traceparent()
        client.headers["traceparent"] = header
        driver = Driver(client)
        with audit_lines() as lines:
            client_id = (await driver.register())["client_id"]
            code, login = await driver.code_for(client_id)
            tokens = (await driver.exchange(code, login)).json()
            form = {
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": client_id,
            }
            refreshed = await driver.token(form)
            assert refreshed.status_code == 200
            revoked = await client.post(
                "/revoke",
                data={"token": refreshed.json()["access_token"], "client_id": client_id},
                headers={"host": A},
            )
            assert revoked.status_code == 200
        assert (await client.get("/healthz")).status_code == 200
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert not [name for name in names if "healthz" in name], "probes make no traces"
    for step in ("register", "authorize", "callback", "consent", "revoke"):
        assert f"oauth.{step}" in names, names
    grants = [
        dict(span.attributes or {})["gatekeeper.oauth.grant_type"]
        for span in spans
        if span.name == "oauth.token"
    ]
    assert grants == ["authorization_code", "refresh_token"]
    assert {hex_ids(span)[0] for span in spans} == {trace_id}
    by_span = {hex_ids(span)[1]: span for span in spans}
    for line in lines:
        assert schema_errors(line) == [], line
        span = by_span[line["span_id"]]
        assert line["event"] in [event.name for event in span.events]
    issued = [line for line in lines if line["event"] == "token_issued"]
    assert [by_span[line["span_id"]].name for line in issued] == ["oauth.token"] * 2
    for span in spans:
        values = json.dumps([str(value) for value in (span.attributes or {}).values()])
        assert tokens["refresh_token"] not in values and tokens["access_token"] not in values
