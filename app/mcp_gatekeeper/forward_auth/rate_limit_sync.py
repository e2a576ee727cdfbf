"""Rate-limit buckets shared by the replicas: every second, each process charges what it spent
to the shared bucket in the store and takes back the shared level.

Only buckets spent from since the last round are reconciled: one ``get`` and one ``add`` or
``replace_if`` (compare-and-swap, retried on a race) each, single-key operations that a Redis
Cluster runs on the key's own node. ``/authenticate`` never waits for any of it.

What this gives up (``README``: rate limits): a process learns of the others' spending up to
one round late, so N replicas together can let through up to (N - 1) x (burst + 2 x rate x
interval) more than the limit; the shared bucket then goes into debt and refuses until the
refill has paid it back, so over longer spans the rate holds. A store outage never blocks a
request: each process goes on limiting from its own buckets (each replica up to the whole
limit), drops what it could not charge, counts the failed rounds and reconciles again once the
store answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

from ..config import Config
from ..hosts import HostRegistry
from ..ops.metrics import Metrics
from ..store import Store, StoreUnavailable
from ..store.sync_loop import sync_forever
from .rate_limit_answers import RefusalBook
from .rate_limits import MAX_BUCKETS, BucketKey, RateLimiter, Rule
from .shared_bucket import LocalBucket, SharedLevel, reconcile, seconds_to_full

log = logging.getLogger(__name__)

NAMESPACE = "rate_limits"
INTERVAL = 1.0
#: Compare-and-swap attempts per bucket and round; a bucket still raced is charged next round.
ATTEMPTS = 3
#: Store operations in flight at once: a round over many users does not queue thousands.
CONCURRENCY = 32


def store_key(rule: Rule, who: str) -> str:
    """Host, limit and a digest of the user or client: bounded, and no identity in the store."""
    digest = hashlib.sha256(f"{rule.index}\0{rule.label}\0{rule.tool}\0{who}".encode()).hexdigest()
    return f"{rule.host}:{rule.label}:{digest[:40]}"


class BucketSync:
    def __init__(
        self,
        limiter: RateLimiter,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], float],
        interval: float = INTERVAL,
    ) -> None:
        self.limiter = limiter
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self.interval = interval

    async def run(self) -> None:
        await sync_forever("rate-limit buckets", self.round, lambda: self.interval)

    async def round(self) -> None:
        """Reconcile every bucket spent from since the last round; forget idle full ones."""
        buckets = self.limiter.buckets
        rules = self.limiter.rules
        spent = [(key, bucket) for key, bucket in buckets.items() if bucket.pending > 0]
        self._forget_idle()
        if not spent or self._store.process_local:
            for _key, bucket in spent:
                bucket.pending = 0.0  # one process: its buckets are the whole truth
            return
        gate = asyncio.Semaphore(CONCURRENCY)
        failures = 0

        async def one(key: BucketKey, bucket: LocalBucket) -> None:
            nonlocal failures
            async with gate:
                if not await self._reconcile(rules[key[0]], key[1], bucket):
                    failures += 1

        await asyncio.gather(*(one(key, bucket) for key, bucket in spent))
        if failures:
            self._metrics.count_rate_limit_sync_failure(failures)
            raise StoreUnavailable(f"{failures} of {len(spent)} rate-limit buckets not shared")

    async def _reconcile(self, rule: Rule, who: str, bucket: LocalBucket) -> bool:
        spent, bucket.pending = bucket.pending, 0.0
        key = store_key(rule, who)
        try:
            for _attempt in range(ATTEMPTS):
                raw = await self._store.get(NAMESPACE, key)
                shared = None if raw is None else SharedLevel.model_validate_json(raw)
                after = reconcile(shared, spent, self._clock(), rule.rate, rule.capacity)
                value = after.model_dump_json().encode()
                # Kept while it means anything, plus a round: afterwards it is full anyway.
                ttl = seconds_to_full(after, rule.rate, rule.capacity) + 2 * self.interval
                if raw is None:
                    done = await self._store.add(NAMESPACE, key, value, ttl)
                else:
                    done = await self._store.replace_if(NAMESPACE, key, raw, value, ttl)
                if done:
                    bucket.adopt(after, bucket.pending)
                    return True
        except StoreUnavailable:
            return False  # fail open: the local bucket goes on alone; ``spent`` is dropped
        bucket.pending += spent  # raced every time: charged next round
        return True

    def _forget_idle(self) -> None:
        buckets, rules, now = self.limiter.buckets, self.limiter.rules, self._clock()
        idle = [
            key
            for key, bucket in buckets.items()
            if bucket.idle_full(now, rules[key[0]].rate, rules[key[0]].capacity)
        ]
        for key in idle:
            del buckets[key]
        if len(buckets) > MAX_BUCKETS:
            # Fullest first: forgetting a bucket refills it, which lets more through, not less.
            by_level = sorted(buckets, key=lambda key: buckets[key].level, reverse=True)
            for key in by_level[: len(buckets) - MAX_BUCKETS]:
                del buckets[key]
        log.debug("rate-limit buckets: %d kept, %d forgotten", len(buckets), len(idle))


def build_rate_limits(
    config: Config, hosts: HostRegistry, metrics: Metrics, store: Store, clock: Callable[[], float]
) -> BucketSync | None:
    """The limiter for ``/authenticate`` and its background reconciliation; ``None`` when no
    host has ``rateLimits`` (the hot path then skips the check altogether)."""
    limiter = RateLimiter(
        hosts.hosts, metrics, clock, RefusalBook(config.proxy.trusted_host_headers)
    )
    if not limiter.active:
        return None
    metrics.gauge(
        "mcp_gatekeeper_rate_limit_buckets",
        "Rate-limit buckets (user or client, and limit) this process keeps",
        lambda: len(limiter.buckets),
    )
    return BucketSync(limiter, store, metrics, clock)
