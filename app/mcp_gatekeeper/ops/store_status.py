"""The store as operators and clients see it: a 503 when it is unreachable, a gauge, a probe line.

A request that needs the store while it is down gets a clear answer instead of a 500: an OAuth
JSON error ``temporarily_unavailable`` (RFC 6749 §4.1.2.1) for clients, a page for browsers,
with ``Retry-After``. ``/authenticate`` never gets here: it does not use the store.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response

from ..responses import error_response
from ..store import Store, StoreUnavailable
from ..store.health import MonitoredStore
from .metrics import Metrics

RETRY_AFTER_SECONDS = 5
log = logging.getLogger(__name__)


def store_status(store: Store) -> dict[str, Any]:
    """For ``/readyz``: how the store has been answering this process lately."""
    return store.status() if isinstance(store, MonitoredStore) else {"store": "ok"}


def install_store_status(app: FastAPI, store: MonitoredStore, metrics: Metrics) -> None:
    async def store_unavailable(request: Request, exc: Exception) -> Response:
        log.warning("store unavailable during %s: %s", request.url.path, exc)
        response = error_response(
            request,
            503,
            "temporarily_unavailable",
            "The service cannot reach its state store right now; try again in a few seconds.",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    app.add_exception_handler(StoreUnavailable, store_unavailable)
    metrics.gauge(
        "mcp_gatekeeper_store_up",
        "1 if the last store operation of this process succeeded, else 0",
        lambda: 1.0 if store.up else 0.0,
        mode="livemin",  # several workers: 0 if any of them cannot reach the store
    )
