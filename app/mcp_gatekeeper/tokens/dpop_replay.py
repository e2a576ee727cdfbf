"""DPoP proofs seen, so that one is not accepted twice (RFC 9449 §11.1).

Kept in the process, bounded, and only as long as a proof could still pass the ``iat`` window:
``/authenticate`` never waits for the store (the hot-path rule), so what is guaranteed is that a
proof is accepted at most once per process, and, across replicas, at most once per replica
within its window (``dpop.maxAge`` plus the clock skew). Server nonces (``dpop_nonce.py``)
narrow that window to the nonce's lifetime for hosts that turn them on.
"""

from __future__ import annotations

from collections import OrderedDict


class SeenProofs:
    def __init__(self, *, max_entries: int = 200_000) -> None:
        self._max_entries = max_entries
        #: (jkt, jti) -> when the proof stops being acceptable anyway; insertion order is
        #: close to expiry order (every entry lives the same window), so sweeping stops early.
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def first_use(self, jkt: str, jti: str, *, until: float, now: float) -> bool:
        """Record the proof; False if it was seen before and could still be valid."""
        key = (jkt, jti)
        if key in self._seen and self._seen[key] >= now:
            return False
        self._sweep(now)
        self._seen[key] = until
        self._seen.move_to_end(key)
        if len(self._seen) > self._max_entries:
            # Full of live proofs: the oldest goes first; its iat window is the closest to
            # ending, which bounds how long a replay of it could still pass.
            self._seen.popitem(last=False)
        return True

    def _sweep(self, now: float) -> None:
        while self._seen:
            oldest_key, until = next(iter(self._seen.items()))
            if until >= now:
                return
            del self._seen[oldest_key]

    def __len__(self) -> int:
        return len(self._seen)
