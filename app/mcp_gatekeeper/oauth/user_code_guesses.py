"""How many wrong user codes one client address may enter (RFC 8628 §5.1: brute forcing).

``grants.deviceCode.userCodeAttemptsPerMinute`` per address, refilled continuously, at most that
many at once: a token bucket in the store (``store_buckets.py``), shared by the replicas, so a
guesser cannot multiply the limit by their number. Every entry takes one attempt before the code
is looked up (so parallel requests cannot overdraw), and a right code gives it back.
"""

from __future__ import annotations

from ..services import Services
from .errors import TooManyUserCodes
from .store_buckets import BucketsBusy, change


async def _change(services: Services, address: str, delta: float) -> None:
    try:
        wait = await change(
            services.records.user_code_guesses,
            address,
            delta,
            per_minute=services.config.grants.device_code.user_code_attempts_per_minute,
            clock=services.clock,
        )
    except BucketsBusy:
        raise TooManyUserCodes(
            "Too many codes are being entered right now; try again", retry_after=1
        ) from None
    if wait:
        raise TooManyUserCodes(
            "Too many wrong codes were entered from your network. Wait a minute, then "
            "enter the code your device shows.",
            retry_after=wait,
        )


async def take_attempt(services: Services, address: str) -> None:
    """One attempt from ``address``, or ``TooManyUserCodes`` with the wait in seconds."""
    await _change(services, address, -1.0)


async def give_back(services: Services, address: str) -> None:
    """The code was right: it does not count against the address."""
    await _change(services, address, 1.0)
