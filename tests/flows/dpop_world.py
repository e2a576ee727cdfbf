"""A gatekeeper with one MCP host per DPoP mode, and a client that signs its token requests
with a DPoP key (``tests/dpop_proofs.py``) as RFC 9449 §5 has it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from tests.dpop_proofs import DpopKey
from tests.flows.driver import Driver, Login
from tests.support import FakeClock, config_dict, running

#: ``dpop: allowed``, ``required`` and ``off``: each its own issuer (no central one).
ALLOWED, REQUIRED, OFF = "a.example.test", "r.example.test", "o.example.test"
MODES = {ALLOWED: "allowed", REQUIRED: "required", OFF: "off"}


def dpop_config(*, nonces: bool = False, **top: Any) -> Config:
    hosts = [
        {"host": name, "dpop": mode, "scopes": [{"name": "read", "tools": ["get"]}]}
        for name, mode in MODES.items()
    ]
    # The Envoy way of naming the original request: its Host, and the path after /authenticate.
    raw = config_dict(hosts=hosts, trustedHostHeaders="host")
    raw["tokens"] = {"dpopNonces": nonces}
    return Config.model_validate({**raw, **top})


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class DpopWorld:
    """One host's login and token requests, each with an optional DPoP proof."""

    def __init__(self, app: FastAPI, http: httpx.AsyncClient, clock: FakeClock, host: str) -> None:
        self.app, self.http, self.clock, self.host = app, http, clock, host
        self.driver = Driver(http, host)

    def on(self, host: str) -> DpopWorld:
        return DpopWorld(self.app, self.http, self.clock, host)

    @property
    def token_url(self) -> str:
        return f"https://{self.host}/token"

    def proof(self, key: DpopKey, **options: Any) -> str:
        """A proof for this host's token endpoint, signed now (by the test's clock)."""
        return key.proof("POST", self.token_url, iat=self.clock.now, **options)

    async def post(self, form: dict[str, str], proof: str | None, **headers: str) -> httpx.Response:
        if proof is not None:
            headers["dpop"] = proof
        return await self.driver.token(form, **headers)

    async def code(self, **register: Any) -> tuple[dict[str, Any], str, Login]:
        client = await self.driver.register(**register)
        code, login = await self.driver.code_for(client["client_id"])
        return client, code, login

    def code_form(self, code: str, login: Login) -> dict[str, str]:
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": login.redirect_uri,
            "client_id": login.client_id,
            "code_verifier": login.verifier,
            "resource": f"https://{self.host}/mcp",
        }

    async def login(self, key: DpopKey | None, **register: Any) -> dict[str, Any]:
        """A public client's login; the code exchanged with a proof of ``key`` (if any)."""
        _client, code, login = await self.code(**register)
        proof = None if key is None else self.proof(key)
        response = await self.post(self.code_form(code, login), proof)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        tokens["client_id"] = login.client_id
        return tokens

    async def refresh(
        self, tokens: dict[str, Any], proof: str | None, **headers: str
    ) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        if "authorization" not in headers:
            form["client_id"] = tokens["client_id"]
        return await self.post(form, proof, **headers)


@asynccontextmanager
async def dpop_world(config: Config | None = None) -> AsyncIterator[DpopWorld]:
    clock = FakeClock()
    config = config or dpop_config()
    async with running(config, clock, base_url=f"https://{ALLOWED}") as (app, client):
        yield DpopWorld(app, client, clock, ALLOWED)


def refused(response: httpx.Response, error: str, words: str) -> bool:
    """A 400 with ``error`` whose description says ``words``."""
    body = response.json()
    return (
        response.status_code == 400
        and body["error"] == error
        and words in body["error_description"]
    )
