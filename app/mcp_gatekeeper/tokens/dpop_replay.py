"""DPoP proofs seen, so that one is not accepted twice (RFC 9449 §11.1).

Kept in the process, bounded, and only as long as a proof could still pass the ``iat`` window:
``/authenticate`` never waits for the store (the hot-path rule), so what is guaranteed is that a
proof is accepted at most once per process, and, across replicas, at most once per replica
within its window (``tokens.dpopProofMaxAge`` plus twice the clock skew). Server nonces
(``dpop_nonce.py``) narrow that window to the nonce's lifetime for hosts that turn them on.

A live entry is never evicted: a full table refuses new proofs instead (the client retries with
a new proof once old ones expire), since evicting would let a flood of one's own proofs re-open
a captured one. One key may hold only a quarter of the table (50,000 proofs in a window: about
400 requests a second sustained with the default window), so one client cannot fill it.
"""

from __future__ import annotations

from collections import OrderedDict


class SeenProofs:
    def __init__(self, *, max_entries: int = 200_000, max_per_key: int = 50_000) -> None:
        self._max_entries = max_entries
        self._max_per_key = max_per_key
        #: (jkt, jti) -> when it may be forgotten. Every entry lives the same window from when
        #: it was seen, so insertion order is expiry order and sweeping stops at the first live.
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._per_key: dict[str, int] = {}

    def first_use(self, jkt: str, jti: str, *, window: float, now: float) -> bool | None:
        """True: first seen (now recorded); False: a replay; None: no room to record it (the
        caller refuses the proof rather than accept one it cannot remember)."""
        self._sweep(now)
        key = (jkt, jti)
        if key in self._seen:
            return False
        held = self._per_key.get(jkt, 0)
        if len(self._seen) >= self._max_entries or held >= self._max_per_key:
            return None
        self._seen[key] = now + window
        self._per_key[jkt] = held + 1
        return True

    def _sweep(self, now: float) -> None:
        seen, per_key = self._seen, self._per_key
        while seen:
            (jkt, jti), until = next(iter(seen.items()))
            if until >= now:
                return
            del seen[jkt, jti]
            left = per_key[jkt] - 1
            if left:
                per_key[jkt] = left
            else:
                del per_key[jkt]

    def __len__(self) -> int:
        return len(self._seen)
