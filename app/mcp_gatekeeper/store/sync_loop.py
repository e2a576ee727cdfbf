"""The background loop every process runs to stay in step with the shared store.

A store outage is logged once when it starts and once when it ends, not on every poll: the
store's own health metric says the rest. Anything unexpected is logged and retried; the loop
only ends when its task is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .base import StoreUnavailable, stop_if_cancelled

log = logging.getLogger(__name__)


async def sync_forever(
    what: str, step: Callable[[], Awaitable[None]], delay: Callable[[], float]
) -> None:
    """Run ``step``, then sleep ``delay()`` seconds, forever."""
    failing = False
    while True:
        stop_if_cancelled()
        try:
            await step()
            if failing:
                log.info("%s synchronised again", what)
            failing = False
        except StoreUnavailable as exc:
            if not failing:
                log.warning("%s not synchronised, retrying: %s", what, exc)
            failing = True
        except Exception:
            log.exception("%s: unexpected failure; retrying", what)
        await asyncio.sleep(max(delay(), 0.01))
