"""How often clients may register: RFC 7591 registration is unauthenticated and every client
stays in the store, so one bucket bounds everyone together (the store cannot be filled), and one
per client address keeps a single client from using up everyone's share."""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import SlowDown

#: Addresses remembered at once. A forgotten one starts full again, which only the global
#: bucket still bounds: enough for every client of a busy minute, small in memory (~2 MB).
MAX_ADDRESSES = 10_000


@dataclass
class TokenBucket:
    """``per_minute`` registrations, refilled continuously, at most that many in a burst."""

    per_minute: float
    tokens: float
    refilled: float

    def wait(self, now: float) -> float:
        """Seconds until one registration is allowed (0: now); refills first."""
        rate = self.per_minute / 60.0
        self.tokens = min(self.per_minute, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / rate


def address_key(address: str) -> str:
    """Whom a limit counts: an IPv4 address, or an IPv6 /64 (one subscriber's usual share)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        # A dual-stack gateway reports IPv4 clients as ::ffff:a.b.c.d: each its own address,
        # not one shared /64.
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class RegistrationLimit:
    def __init__(
        self, per_minute: float, per_address_per_minute: float, clock: Callable[[], float]
    ) -> None:
        self._clock = clock
        self._global = TokenBucket(per_minute, per_minute, clock())
        self._per_address = per_address_per_minute
        self._addresses: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, address: str) -> None:
        """Count one registration from ``address``, or ``SlowDown`` with the wait in seconds.

        A refused registration costs neither bucket: a client over its own limit does not use
        up the others' share.
        """
        now = self._clock()
        key = address_key(address)
        bucket = self._addresses.pop(key, None) or TokenBucket(
            self._per_address, self._per_address, now
        )
        self._addresses[key] = bucket  # most recently used last
        if len(self._addresses) > MAX_ADDRESSES:
            self._addresses.popitem(last=False)
        own, everyone = bucket.wait(now), self._global.wait(now)
        if own or everyone:
            whose = "from this address" if own >= everyone else "on this server"
            raise SlowDown(
                f"Too many client registrations {whose}; try again later",
                retry_after=math.ceil(max(own, everyone)),
            )
        bucket.tokens -= 1
        self._global.tokens -= 1
