"""How many device authorizations may be started (RFC 8628 §3.1 is unauthenticated for public
clients, and every start is a record in the store until its code expires).

Two limits, both in the store and changed by compare-and-swap, so replicas share them:
``grants.deviceCode.requestsPerMinutePerAddress`` per client address (a token bucket of
``store_buckets.py``), and
``grants.deviceCode.maxPendingPerClient`` device authorizations per client started within the
last ``codeTTL`` (each counts until its code expires, answered or not: an answered one is not
looked up again). Either refusal is ``slow_down`` with ``Retry-After`` and says which limit.
"""

from __future__ import annotations

import math

from ..services import Services
from .errors import SlowDown
from .records import PendingDeviceGrants
from .store_buckets import MAX_SWAP_ATTEMPTS, BucketsBusy, change

BUSY = "Too many device authorizations are being started right now; try again"


async def admit(services: Services, address: str, client_id: str) -> None:
    """Count one device authorization from ``address`` for ``client_id``, or ``SlowDown``."""
    await _take_from_address(services, address)
    await _count_pending(services, client_id)


async def _take_from_address(services: Services, address: str) -> None:
    per_minute = services.config.grants.device_code.requests_per_minute_per_address
    try:
        wait = await change(
            services.records.device_requests,
            address,
            -1.0,
            per_minute=per_minute,
            clock=services.clock,
        )
    except BucketsBusy:
        raise SlowDown(BUSY, retry_after=1) from None
    if wait:
        raise SlowDown(
            "Too many device authorizations from this address "
            f"(grants.deviceCode.requestsPerMinutePerAddress: {per_minute:g} a minute)",
            retry_after=wait,
        )


async def _count_pending(services: Services, client_id: str) -> None:
    settings = services.config.grants.device_code
    store = services.records.device_pending
    for _attempt in range(MAX_SWAP_ATTEMPTS):
        now = services.clock()
        found = await store.get_stored(client_id)
        live = sorted(at for at in (found[0].expires_at if found else []) if at > now)
        if len(live) >= settings.max_pending_per_client:
            raise SlowDown(
                f"This client has {len(live)} device authorizations waiting for an answer "
                f"(grants.deviceCode.maxPendingPerClient); try again when one expires",
                retry_after=math.ceil(live[0] - now),
            )
        expires_at = now + settings.code_ttl.total_seconds()
        value = store.dump(PendingDeviceGrants(expires_at=[*live, expires_at]))
        ttl = expires_at - now + 1.0
        if await store.write_if(client_id, found, value, ttl):
            return
    raise SlowDown(BUSY, retry_after=1)
