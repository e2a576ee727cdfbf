"""The authorization server's HTTP routes: requests in, responses out; decisions in ``oauth/``."""

from __future__ import annotations

from fastapi import APIRouter

from . import (
    authorize,
    callback,
    connected,
    consent,
    device,
    device_authorization,
    register,
    revoke,
    token,
)

ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        authorize,
        callback,
        consent,
        token,
        revoke,
        register,
        device_authorization,
        device,
        connected,
    )
)
