"""Liveness, readiness and Prometheus metrics; answered on any host (probes use pod IPs)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..paths import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH
from ..services import ServicesDep
from .store_status import store_status

router = APIRouter()


@router.get(HEALTHZ_PATH)
async def healthz() -> Response:
    return JSONResponse({"status": "ok"})


@router.get(READYZ_PATH)
async def readyz(state: ServicesDep) -> Response:
    store = store_status(state.store)
    if not state.keys.ready:
        return JSONResponse({"status": "starting", "reason": "no signing key yet", **store}, 503)
    # Still ready while the store is down: /authenticate works from memory, and taking every
    # replica out of service because the shared store blinked would turn a login outage into a
    # full outage. The body (and mcp_gatekeeper_store_up) says so.
    # An MCP server that never answered makes its host refuse tool calls; not the others: the
    # body names it (and mcp_gatekeeper_host_scopes_known), the status stays ready.
    waiting = state.scopes.waiting(state.hosts.hosts)
    status = "ready" if store["store"] == "ok" and not waiting else "degraded"
    return JSONResponse({"status": status, **store, "scopesWaiting": waiting})


@router.get(METRICS_PATH)
async def metrics(state: ServicesDep) -> Response:
    state.metrics.refresh_gauges()
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
