"""Revoked token ids (``jti``), kept only until the token would have expired anyway."""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TLRUCache

MAX_REVOKED = 100_000


def _until_expiry(_jti: str, expires_at: float, _now: float) -> float:
    return expires_at


class RevocationList:
    """Checked on every ``/authenticate`` hit, cached or not; a dict lookup."""

    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = MAX_REVOKED):
        self._revoked: TLRUCache[str, float] = TLRUCache(
            maxsize=max_entries, ttu=_until_expiry, timer=clock
        )

    def revoke(self, jti: str, expires_at: float) -> None:
        self._revoked[jti] = expires_at

    def __contains__(self, jti: object) -> bool:
        return jti in self._revoked
