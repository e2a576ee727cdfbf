"""How often one login may refresh: a bound on what a signed-in client can make us keep.

Each refresh mints an access token, records it (``issued.py``) and may end up on the revocation
list, which every process holds in memory until the token expires. A client refreshing in a
loop and revoking what it gets would grow both without end; a real client refreshes about once
per access-token lifetime. So each refresh family gets a bucket: ``tokens.refreshesPerMinute``
refreshes, refilled continuously, at most that many at once. Counted per process (replicas
multiply it).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

from .clients.registration_limit import TokenBucket
from .errors import SlowDown

#: Families remembered at once; the least recently refreshed is forgotten first (a forgotten
#: family starts again with a full bucket, which only ever lets a real client through).
MAX_FAMILIES = 50_000


class RefreshLimit:
    def __init__(self, clock: Callable[[], float], per_minute: float) -> None:
        self._clock = clock
        self._per_minute = per_minute
        self._families: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, family_id: str) -> None:
        """Count one refresh of ``family_id``, or ``SlowDown`` with the wait in seconds."""
        now = self._clock()
        bucket = self._families.pop(family_id, None) or TokenBucket(
            self._per_minute, self._per_minute, now
        )
        self._families[family_id] = bucket
        if len(self._families) > MAX_FAMILIES:
            self._families.popitem(last=False)
        wait = bucket.wait(now)
        if wait:
            raise SlowDown(
                "This login refreshes too often; wait before refreshing again",
                retry_after=math.ceil(wait),
            )
        bucket.tokens -= 1
