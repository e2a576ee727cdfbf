"""Token buckets per client address kept in the store, so replicas behind one load balancer share
them: a client cannot multiply a limit by the number of replicas.

A bucket holds at most ``per_minute`` tokens and refills continuously; an address is an IPv4
address or an IPv6 /64, as for registrations. Each change is a compare-and-swap, retried up to
``MAX_SWAP_ATTEMPTS`` times against concurrent changes of the same bucket.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .clients.registration_limit import TokenBucket, address_key
from .record_stores import RecordStore
from .records import GuessBucket

#: A bucket refills completely in a minute: one untouched that long is as good as a new one.
BUCKET_TTL = 61.0
MAX_SWAP_ATTEMPTS = 16


class BucketsBusy(Exception):
    """Every compare-and-swap lost to another change of the same bucket."""


async def change(
    store: RecordStore[GuessBucket],
    address: str,
    delta: float,
    *,
    per_minute: float,
    clock: Callable[[], float],
) -> int:
    """Add ``delta`` tokens to the bucket of ``address`` (-1 takes one, +1 gives one back).

    Taking from a bucket that holds less than one token changes nothing and returns the whole
    seconds until it holds one; otherwise 0. ``BucketsBusy`` when the store is too contended."""
    key = address_key(address)
    for _attempt in range(MAX_SWAP_ATTEMPTS):
        now = clock()
        found = await store.get_stored(key)
        stored = found[0] if found is not None else GuessBucket(tokens=per_minute, refilled=now)
        bucket = TokenBucket(per_minute, stored.tokens, stored.refilled)
        wait = bucket.wait(now)
        if wait and delta < 0:
            return math.ceil(wait)
        value = store.dump(GuessBucket(tokens=min(per_minute, bucket.tokens + delta), refilled=now))
        if await store.write_if(key, found, value, BUCKET_TTL):
            return 0
    raise BucketsBusy
