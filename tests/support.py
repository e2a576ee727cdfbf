"""Shared test helpers: a controllable clock, configs, a key pool, and minting."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.hosts import HostRegistry, McpHost
from mcp_gatekeeper.keys import SigningKey
from mcp_gatekeeper.main import create_app
from mcp_gatekeeper.services import Services
from mcp_gatekeeper.tokens import Identity, mint_access_token

START = 1_800_000_000.0


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_POOL: list[rsa.RSAPrivateKey] = []
_DRAWS = itertools.count()
POOL_SIZE = 12


def key_pool() -> Callable[[float], SigningKey]:
    """Keys drawn round-robin from RSA keys made once per session (keygen is slow).

    One shared sequence: any ``POOL_SIZE`` consecutive draws are distinct keys.
    """
    while len(_POOL) < POOL_SIZE:
        _POOL.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def generate(now: float) -> SigningKey:
        return SigningKey.from_private_key(_POOL[next(_DRAWS) % POOL_SIZE], now)

    return generate


def config_dict(**proxy: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "hosts": [
            {
                "host": "a.example.test",
                "scopes": [{"name": "read", "description": "Read", "tools": ["get"]}],
            },
            {"host": "b.example.test"},
        ]
    }
    base.update(proxy)
    return {"proxy": base}


def make_config(**proxy: Any) -> Config:
    return Config.model_validate(config_dict(**proxy))


def state_of(app: FastAPI) -> Services:
    state: Services = app.state.services
    return state


def host(config: Config, name: str) -> McpHost:
    found = HostRegistry(config).get(name)
    assert found is not None, name
    return found


def mint(
    app: FastAPI,
    host_name: str,
    *,
    subject: str = "alice",
    email: str = "alice@example.test",
    groups: tuple[str, ...] = ("eng", "ops"),
    scopes: tuple[str, ...] = ("read",),
    now: float | None = None,
    lifetime: timedelta = timedelta(hours=1),
    extra_claims: dict[str, Any] | None = None,
) -> str:
    state = state_of(app)
    target = state.hosts.get(host_name)
    assert target is not None, host_name
    return mint_access_token(
        state.keys.ring,
        target,
        Identity(subject, email, groups),
        scopes=scopes,
        client_id="test-client",
        now=state.clock() if now is None else now,
        lifetime=lifetime,
        extra_claims=extra_claims,
    ).token


@asynccontextmanager
async def running(
    config: Config,
    clock: FakeClock | None = None,
    base_url: str = "http://testserver",
    **options: Any,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan run, and an in-process HTTP client for it."""
    app = create_app(config, clock=clock or FakeClock(), generate_key=key_pool(), **options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield app, client
