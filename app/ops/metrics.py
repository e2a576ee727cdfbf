"""Prometheus metrics on a registry of the app's own (several apps can live in one process).

Labels are bounded: hosts are the configured ones (anything else is ``unknown``), routes are
templates, never raw paths.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)

UNKNOWN_HOST = "unknown"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.decisions = Counter(
            "mcp_gatekeeper_auth_decisions_total",
            "Forward-auth decisions by MCP host and result",
            ["host", "result"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "mcp_gatekeeper_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.key_rotations = Counter(
            "mcp_gatekeeper_key_rotations_total",
            "Signing keys generated, by reason (bootstrap or rotation)",
            ["reason"],
            registry=self.registry,
        )
        self.deny_logs_suppressed = Counter(
            "mcp_gatekeeper_deny_logs_suppressed_total",
            "Deny audit events dropped by the log rate limit",
            registry=self.registry,
        )
        self._decision_children: dict[tuple[str, str], Counter] = {}
        self._duration_children: dict[tuple[str, str, int], Histogram] = {}

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at scrape time."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def count_decision(self, host: str, result: str) -> None:
        # Resolving label children costs more than the increment; keep them.
        child = self._decision_children.get((host, result))
        if child is None:
            child = self.decisions.labels(host=host, result=result)
            self._decision_children[(host, result)] = child
        child.inc()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        child = self._duration_children.get((route, method, status))
        if child is None:
            child = self.request_duration.labels(route=route, method=method, status=str(status))
            self._duration_children[(route, method, status)] = child
        child.observe(seconds)
