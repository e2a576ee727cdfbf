"""Token-bucket arithmetic for rate limits kept per process and reconciled with the store.

A bucket holds ``capacity`` (the burst) and refills at ``rate`` per second. Each process keeps
its own copy (``LocalBucket``) and spends from it without any I/O; what it spent since the last
reconciliation (``pending``) is then charged to the shared copy in the store (``reconcile``),
whose level comes back as the new local level. The shared level can go below zero: several
processes spent from the same view before hearing of each other. That debt is real consumption
and is paid back by refusing until the refill covers it, so over time the rate holds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SharedLevel(BaseModel):
    """The shared bucket as stored: its level at a time (seconds since the epoch)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    level: float
    at: float


def refilled(level: float, since: float, now: float, rate: float, capacity: float) -> float:
    """``level`` at ``since`` refilled to ``now``, never above ``capacity``. A clock behind
    ``since`` (another replica's clock is ahead) refills nothing rather than draining."""
    if now <= since:
        return min(level, capacity)
    return min(capacity, level + (now - since) * rate)


def reconcile(
    shared: SharedLevel | None, spent: float, now: float, rate: float, capacity: float
) -> SharedLevel:
    """The shared bucket after charging ``spent``; a missing one was full (it expired full)."""
    level = capacity if shared is None else refilled(shared.level, shared.at, now, rate, capacity)
    return SharedLevel(level=level - spent, at=now)


def seconds_to_full(shared: SharedLevel, rate: float, capacity: float) -> float:
    """How long the shared record means anything: afterwards it is full, as if absent."""
    return max(0.0, capacity - shared.level) / rate


class LocalBucket:
    """One process's view of one shared bucket."""

    __slots__ = ("at", "level", "pending")

    def __init__(self, capacity: float, now: float) -> None:
        self.level = capacity
        self.at = now
        #: Spent here since the last reconciliation began: charged to the store next time.
        self.pending = 0.0

    def shortfall(self, cost: float, now: float, rate: float, capacity: float) -> float:
        """Seconds until ``cost`` can be spent (0: it can now). Refills, spends nothing."""
        level = refilled(self.level, self.at, now, rate, capacity)
        self.level, self.at = level, max(self.at, now)
        missing = cost - level
        return 0.0 if missing <= 0 else missing / rate

    def take(self, cost: float, now: float, rate: float, capacity: float) -> bool:
        """Spend ``cost`` if the bucket holds it (the hot path: one call, no allocation)."""
        if now > self.at:
            level = self.level + (now - self.at) * rate
            self.level = capacity if level > capacity else level
            self.at = now
        if self.level < cost:
            return False
        self.level -= cost
        self.pending += cost
        return True

    def give_back(self, cost: float) -> None:
        """Undo a ``take`` of a request another limit refused: it spent nothing."""
        self.level += cost
        self.pending -= cost

    def adopt(self, shared: SharedLevel, spent_meanwhile: float) -> None:
        """The shared level after a reconciliation, minus what was spent here while it ran
        (still pending: it goes to the store next time)."""
        self.level = shared.level - spent_meanwhile
        self.at = shared.at

    def idle_full(self, now: float, rate: float, capacity: float) -> bool:
        """Nothing to report and full again: as good as no bucket (it can be forgotten)."""
        return self.pending == 0 and refilled(self.level, self.at, now, rate, capacity) >= capacity
