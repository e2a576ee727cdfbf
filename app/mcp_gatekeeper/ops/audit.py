"""Audit events: one JSON line each on the ``mcp_gatekeeper.audit`` logger.

Deny events are rate-limited by a token bucket: a flood of bad tokens must not become a flood of
log I/O. What was suppressed is counted and reported on the next line that gets through.

Every event is also counted in the app's metrics (``mcp_gatekeeper_audit_events_total``), so
failed logins or replayed refresh tokens can be alerted on. ``audit`` is called from deep inside
the flows, which know nothing of the app they run in; the app names its counter in a context
variable for each request and for its background tasks (several apps can share a process).

With tracing on, an event raised while a request is traced carries its ``trace_id`` and
``span_id`` (and is added to the span as an event): a SIEM follows a tool call from the
gateway's trace to the user the audit names. The events and their fields are documented, and
tested, in ``audit_schema.json`` (JSON Schema) beside this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar

from .tracing import current_span

audit_log = logging.getLogger("mcp_gatekeeper.audit")
#: Counts an event in the metrics of the app the current request or task belongs to.
event_counter: ContextVar[Callable[[str], None] | None] = ContextVar(
    "audit_event_counter", default=None
)


def audit(event: str, **fields: object) -> None:
    count = event_counter.get()
    if count is not None:
        count(event)
    span = current_span.get()
    if span is not None:
        # Unsampled spans have valid ids too: the gateway's logs name the trace either way.
        fields["trace_id"], fields["span_id"] = span.ids()
        span.add_event(event)
    audit_log.info(event, extra={"event": event, **fields})


class RateLimitedAudit:
    """At most ``rate`` events per second on average, bursts up to ``burst``."""

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_suppressed: Callable[[], None] | None = None,
    ) -> None:
        self._rate = rate
        self._burst = float(burst if burst is not None else max(1, int(rate * 5)))
        self._tokens = self._burst
        self._clock = clock
        self._last = clock()
        self._on_suppressed = on_suppressed
        self.suppressed = 0

    def __call__(self, event: str, **fields: object) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1.0:
            self.suppressed += 1
            if self._on_suppressed is not None:
                self._on_suppressed()
            return
        self._tokens -= 1.0
        if self.suppressed:
            fields["suppressed_since_last"] = self.suppressed
            self.suppressed = 0
        audit(event, **fields)
