"""Liveness, readiness and Prometheus metrics; answered on any host (probes use pod IPs)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..paths import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH
from ..state import StateDep

router = APIRouter()


@router.get(HEALTHZ_PATH)
async def healthz() -> Response:
    return JSONResponse({"status": "ok"})


@router.get(READYZ_PATH)
async def readyz(state: StateDep) -> Response:
    if not state.keys.ready:
        return JSONResponse({"status": "starting", "reason": "no signing key yet"}, 503)
    return JSONResponse({"status": "ready"})


@router.get(METRICS_PATH)
async def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
