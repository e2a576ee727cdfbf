"""Prometheus metrics on a registry of the app's own (several apps can live in one process).

Labels are bounded: hosts are the configured ones (anything else is ``unknown``), routes are
templates, never raw paths.

With several uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` names a writable directory (an
emptyDir with a read-only root filesystem) where every worker keeps its values; whichever worker
answers ``/metrics`` reports the sum over all of them. Per-process metrics (``process_*``) are
left out then: they cannot be added up. The variable must be set before ``prometheus_client`` is
imported; ``mcp-gatekeeper serve`` does that for its workers.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Iterable
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    multiprocess,
    values,
)

UNKNOWN_HOST = "unknown"
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: How the values of several workers combine (``live*``: only workers still running count).
GaugeMode = Literal["livesum", "livemin", "livemax"]
#: Events the chart's alerts watch. Their series exist from the start at 0: ``increase()`` cannot
#: see a counter's first step from absent to 1, so a first replay would never alert otherwise.
WATCHED_EVENTS = ("replay_detected", "login_failed", "recheck_failed")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


_PID_CHECKS_OFF = False


def _without_pid_checks() -> None:
    """Multiprocess values that do not ask for the pid on every update.

    prometheus_client does, to notice a fork: a system call per metric update, about a tenth of
    a cached check. uvicorn spawns its workers (no fork), so a worker's pid never changes. Done
    once per process: every value class keeps its own open files, and two would write the same
    file from two offsets.
    """
    global _PID_CHECKS_OFF
    if not _PID_CHECKS_OFF:
        pid = os.getpid()
        values.ValueClass = values.MultiProcessValue(lambda: pid)  # type: ignore[no-untyped-call]
        _PID_CHECKS_OFF = True


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_DIR_ENV))
        #: What /metrics exposes.
        self.registry = CollectorRegistry()
        if self.multiprocess:
            # The metric objects write to the shared directory; /metrics reads all of it.
            _without_pid_checks()
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
            own = CollectorRegistry()
        else:
            ProcessCollector(registry=self.registry)
            own = self.registry
        self._own = own
        self._gauge_reads: list[tuple[Gauge, Callable[[], float]]] = []
        self.decisions = Counter(
            "mcp_gatekeeper_auth_decisions_total",
            "Forward-auth decisions by MCP host and result",
            ["host", "result"],
            registry=own,
        )
        self.request_duration = Histogram(
            "mcp_gatekeeper_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.key_rotations = Counter(
            "mcp_gatekeeper_key_rotations_total",
            "Signing keys generated, by reason (bootstrap or rotation)",
            ["reason"],
            registry=own,
        )
        self.deny_logs_suppressed = Counter(
            "mcp_gatekeeper_deny_logs_suppressed_total",
            "Deny audit events dropped by the log rate limit",
            registry=own,
        )
        self.audit_events = Counter(
            "mcp_gatekeeper_audit_events_total",
            "Audit events by name (request_denied after the log rate limit: for every denial "
            "see mcp_gatekeeper_auth_decisions_total)",
            ["event"],
            registry=own,
        )
        self.token_requests = Counter(
            "mcp_gatekeeper_token_requests_total",
            "Token endpoint answers by grant (authorization_code, refresh_token, device_code, "
            "client_credentials, jwt-bearer, token-exchange, unsupported) and result (issued, "
            "or the OAuth error code)",
            ["grant", "result"],
            registry=own,
        )
        self.rate_limited = Counter(
            "mcp_gatekeeper_rate_limited_total",
            "Requests refused by a rate limit, by MCP host and limit (user_requests, "
            "user_tool_calls, user_tool, client_requests, client_tool_calls, client_tool)",
            ["host", "limit"],
            registry=own,
        )
        self.rate_limit_sync_failures = Counter(
            "mcp_gatekeeper_rate_limit_sync_failures_total",
            "Rate-limit buckets not shared with the other replicas (the store did not answer): "
            "meanwhile each replica limits on its own, and nothing is refused for the outage",
            registry=own,
        )
        self._decision_children: dict[tuple[str, str], Counter] = {}
        self._event_children: dict[str, Counter] = {
            event: self.audit_events.labels(event=event) for event in WATCHED_EVENTS
        }
        self._duration_children: dict[tuple[str, str, int], Histogram] = {}

    def gauge(
        self, name: str, documentation: str, read: Callable[[], float], mode: GaugeMode = "livesum"
    ) -> None:
        """A gauge whose value is read at scrape time (several workers: combined by ``mode``,
        from values each worker refreshes every few seconds)."""
        if not self.multiprocess:
            Gauge(name, documentation, registry=self._own).set_function(read)
            return
        gauge = Gauge(name, documentation, registry=self._own, multiprocess_mode=mode)
        gauge.set(read())
        self._gauge_reads.append((gauge, read))

    def gauge_per_host(
        self, name: str, documentation: str, hosts: Iterable[str], read: Callable[[str], float]
    ) -> None:
        """A 0/1 gauge per MCP host, read at scrape time (several workers: the minimum)."""
        gauge = Gauge(
            name, documentation, ["host"], registry=self._own, multiprocess_mode="livemin"
        )
        for host in hosts:
            child = gauge.labels(host=host)
            if self.multiprocess:
                child.set(read(host))
                self._gauge_reads.append((child, functools.partial(read, host)))
            else:
                child.set_function(functools.partial(read, host))

    def refresh_gauges(self) -> None:
        for gauge, read in self._gauge_reads:
            gauge.set(read())

    async def refresh_forever(self, interval: float = 5.0) -> None:
        """Several workers: keep this worker's gauges current; forget them when it stops."""
        try:
            while True:
                self.refresh_gauges()
                await asyncio.sleep(interval)
        finally:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def count_decision(self, host: str, result: str) -> None:
        # Resolving label children costs more than the increment; keep them.
        child = self._decision_children.get((host, result))
        if child is None:
            child = self.decisions.labels(host=host, result=result)
            self._decision_children[(host, result)] = child
        child.inc()

    def count_rate_limited(self, host: str, limit: str) -> None:
        self.rate_limited.labels(host=host, limit=limit).inc()

    def count_rate_limit_sync_failure(self, buckets: int) -> None:
        self.rate_limit_sync_failures.inc(buckets)

    def count_token_request(self, grant: str, result: str) -> None:
        self.token_requests.labels(grant=grant, result=result).inc()

    def count_event(self, event: str) -> None:
        child = self._event_children.get(event)
        if child is None:
            child = self._event_children[event] = self.audit_events.labels(event=event)
        child.inc()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        child = self._duration_children.get((route, method, status))
        if child is None:
            child = self.request_duration.labels(route=route, method=method, status=str(status))
            self._duration_children[(route, method, status)] = child
        child.observe(seconds)
