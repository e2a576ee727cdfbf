"""How many wrong user codes one client address may enter (RFC 8628 §5.1: brute forcing).

``grants.deviceCode.userCodeAttemptsPerMinute`` per address (an IPv4 address or an IPv6 /64, as
for registrations), refilled continuously, at most that many at once. The bucket lives in the
store and is changed by compare-and-swap, so replicas behind one load balancer share it: a
guesser cannot multiply the limit by the number of replicas. Every entry takes one attempt before
the code is looked up (so parallel requests cannot overdraw), and a right code gives it back.
"""

from __future__ import annotations

import math

from ..services import Services
from .clients.registration_limit import TokenBucket, address_key
from .errors import TooManyUserCodes
from .records import GuessBucket

#: A bucket refills completely in a minute: one untouched that long is as good as a new one.
BUCKET_TTL = 61.0
MAX_SWAP_ATTEMPTS = 16


async def _change(services: Services, address: str, delta: float) -> None:
    per_minute = services.config.grants.device_code.user_code_attempts_per_minute
    store = services.records.user_code_guesses
    key = address_key(address)
    for _attempt in range(MAX_SWAP_ATTEMPTS):
        now = services.clock()
        found = await store.get_stored(key)
        stored = found[0] if found is not None else GuessBucket(tokens=per_minute, refilled=now)
        bucket = TokenBucket(per_minute, stored.tokens, stored.refilled)
        wait = bucket.wait(now)
        if wait and delta < 0:
            raise TooManyUserCodes(
                "Too many wrong codes were entered from your network. Wait a minute, then "
                "enter the code your device shows.",
                retry_after=math.ceil(wait),
            )
        value = store.dump(GuessBucket(tokens=min(per_minute, bucket.tokens + delta), refilled=now))
        if found is None:
            done = await store.add(key, value, BUCKET_TTL)
        else:
            done = await store.replace_if(key, found[1], value, BUCKET_TTL)
        if done:
            return
    raise TooManyUserCodes("Too many codes are being entered right now; try again", retry_after=1)


async def take_attempt(services: Services, address: str) -> None:
    """One attempt from ``address``, or ``TooManyUserCodes`` with the wait in seconds."""
    await _change(services, address, -1.0)


async def give_back(services: Services, address: str) -> None:
    """The code was right: it does not count against the address."""
    await _change(services, address, 1.0)
