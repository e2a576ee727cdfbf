"""Rate limits at ``/authenticate``: requests and tool calls per user and per client, per host.

Each limit is a token bucket (``shared_bucket.py``) per user or client. The check is in memory,
synchronous and without I/O, like the rest of ``/authenticate``; ``rate_limit_sync.py`` charges
what each process spent to the shared bucket in the store every second and brings back what the
other replicas spent. A request is counted only when every one of its limits lets it through,
so a refused request costs nothing; it is refused (``rate_limit_answers.py``) with the wait
until the scarcest bucket holds enough.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from ..config.durations import format_duration
from ..config.rate_limits import LimitSet, RateLimit
from ..hosts import McpHost
from ..ops.metrics import Metrics
from ..tokens import AccessClaims
from .rate_limit_answers import RefusalBook
from .responses import Answer
from .shared_bucket import LocalBucket

Who = Literal["user", "client"]
#: Buckets one process keeps; beyond it the least recently used idle ones are forgotten.
MAX_BUCKETS = 200_000


@dataclass(frozen=True, slots=True)
class Rule:
    """One configured limit of one host."""

    index: int
    host: str
    who: Who
    #: ``requests``, ``tool_calls`` or ``tool`` (then ``tool`` names it): the metric label.
    kind: Literal["requests", "tool_calls", "tool"]
    tool: str | None
    rate: float
    capacity: float
    #: Said to the person refused: "60 tool calls per 1m".
    text: str

    @property
    def label(self) -> str:
        return f"{self.who}_{self.kind}"

    def cost(self, tools: tuple[str, ...]) -> int:
        if self.kind == "requests":
            return 1
        if self.kind == "tool_calls":
            return len(tools)
        return tools.count(self.tool) if tools else 0


BucketKey = tuple[int, str]


class RateLimiter:
    def __init__(
        self,
        hosts: Iterable[McpHost],
        metrics: Metrics,
        clock: Callable[[], float],
        refusals: RefusalBook,
    ) -> None:
        self.rules: list[Rule] = []
        self._by_host: dict[str, tuple[Rule, ...]] = {}
        for host in hosts:
            limits = host.config.rate_limits
            if limits is not None:
                found = [*self._rules(host.host, "user", limits.per_user)]
                found += self._rules(host.host, "client", limits.per_client)
                self._by_host[host.host] = tuple(found)
        self.buckets: dict[BucketKey, LocalBucket] = {}
        self._metrics = metrics
        self._clock = clock
        self._refusals = refusals

    @property
    def active(self) -> bool:
        return bool(self._by_host)

    def _rules(self, host: str, who: Who, limits: LimitSet | None) -> list[Rule]:
        if limits is None:
            return []
        named: list[tuple[Literal["requests", "tool_calls", "tool"], str | None, RateLimit]] = []
        if limits.requests is not None:
            named.append(("requests", None, limits.requests))
        if limits.tool_calls is not None:
            named.append(("tool_calls", None, limits.tool_calls))
        named += [("tool", tool, limit) for tool, limit in limits.tools.items()]
        made = []
        for kind, tool, limit in named:
            what = {"requests": "requests", "tool_calls": "tool calls"}.get(kind, f"{tool} calls")
            text = f"{limit.limit} {what} per {format_duration(limit.window)}"
            rule = Rule(len(self.rules), host, who, kind, tool, limit.rate, limit.capacity, text)
            self.rules.append(rule)
            made.append(rule)
        return made

    def check(self, host: McpHost, claims: AccessClaims, tools: tuple[str, ...]) -> Answer | None:
        """``None``: within every limit (and counted); otherwise the refusal to send."""
        rules = self._by_host.get(host.host)
        if rules is None:
            return None
        now = self._clock()
        subject, client = claims.identity.subject, claims.client_id
        buckets = self.buckets
        for position, rule in enumerate(rules):
            cost = rule.cost(tools)
            if not cost:
                continue
            key = (rule.index, subject if rule.who == "user" else client)
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = LocalBucket(rule.capacity, now)
            if not bucket.take(cost, now, rule.rate, rule.capacity):
                return self._refuse(host, rules, position, subject, client, tools, now)
        return None

    def _refuse(
        self,
        host: McpHost,
        rules: tuple[Rule, ...],
        refused_at: int,
        subject: str,
        client: str,
        tools: tuple[str, ...],
        now: float,
    ) -> Answer:
        """A refused request spends nothing: what earlier limits took goes back. The wait is
        the longest of every limit it is over (the rare path: it may take its time)."""
        worst, wait = rules[refused_at], 0.0
        for position, rule in enumerate(rules):
            cost = rule.cost(tools)
            bucket = self.buckets.get((rule.index, subject if rule.who == "user" else client))
            if not cost or bucket is None:
                continue
            if position < refused_at:
                bucket.give_back(cost)
            short = bucket.shortfall(cost, now, rule.rate, rule.capacity)
            if short > 0 and cost > rule.capacity:
                short = max(short, rule.capacity / rule.rate)  # never fits: say a whole refill
            if short > wait:
                worst, wait = rule, short
        self._metrics.count_rate_limited(host.host, worst.label)
        return self._refusals.refusal(host, worst.who, worst.text, math.ceil(wait))
