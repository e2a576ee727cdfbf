"""The authorization server's HTTP routes: requests in, responses out; decisions in ``oauth/``."""

from __future__ import annotations

from fastapi import APIRouter

from . import authorize, callback, consent, register, revoke, token

ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router for module in (authorize, callback, consent, token, revoke, register)
)
