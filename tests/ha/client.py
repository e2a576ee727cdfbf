"""An MCP client and its user, over HTTP: register, log in with the demo provider, refresh, call.

Every step takes the base URL to send it to, so a test can put each step of one login on a
different replica, or send everything through the gateway. The Host header is always the MCP
host's (the gateway's address), as it would be behind a real gateway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import cycle
from urllib.parse import urlsplit

import httpx

from tests.flows.driver import REDIRECT_URI, hidden_inputs, pkce_pair, query_of


class FlowError(AssertionError):
    """A step answered something a working service never answers."""


@dataclass
class Tokens:
    client_id: str
    access: str
    refresh: str


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class OAuthClient:
    def __init__(self, http: httpx.AsyncClient, host: str) -> None:
        self.http = http
        self.host = host
        self.headers = {"host": host}

    @property
    def resource(self) -> str:
        return f"http://{self.host}/mcp"

    async def register(self, base: str) -> str:
        body = {
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "client_name": "HA test client",
        }
        response = await self.http.post(f"{base}/register", json=body, headers=self.headers)
        if response.status_code != 201:
            raise FlowError(f"register: {response.status_code} {response.text}")
        client_id: str = response.json()["client_id"]
        return client_id

    async def code(self, client_id: str, bases: Sequence[str]) -> tuple[str, str]:
        """Authorize, sign in, approve: (code, verifier); step i goes to ``bases[i % n]``."""
        steps = cycle(bases)
        verifier, challenge = pkce_pair()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
            "resource": self.resource,
        }
        response = await self.http.get(
            f"{next(steps)}/authorize", params=query, headers=self.headers
        )
        while response.status_code == 303 and not response.headers["location"].startswith(
            REDIRECT_URI
        ):
            response = await self.http.get(
                next(steps) + _path(response.headers["location"]), headers=self.headers
            )
            if response.status_code == 200 and "demo-user-approved" in response.text:
                form = hidden_inputs(response.text)
                response = await self.http.get(
                    f"{next(steps)}/callback", params=form, headers=self.headers
                )
            elif response.status_code == 200:
                form = {**hidden_inputs(response.text), "decision": "approve"}
                response = await self.http.post(
                    f"{next(steps)}/consent", data=form, headers=self.headers
                )
        if response.status_code != 303:
            raise FlowError(f"login: {response.status_code} {response.text[:300]}")
        return query_of(response.headers["location"])["code"], verifier

    async def exchange(self, base: str, client_id: str, code: str, verifier: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": self.resource,
        }
        return await self.http.post(f"{base}/token", data=form, headers=self.headers)

    async def login(self, client_id: str, bases: Sequence[str]) -> Tokens:
        code, verifier = await self.code(client_id, bases)
        response = await self.exchange(bases[-1], client_id, code, verifier)
        if response.status_code != 200:
            raise FlowError(f"token: {response.status_code} {response.text}")
        body = response.json()
        return Tokens(client_id, body["access_token"], body["refresh_token"])

    async def refresh(self, base: str, client_id: str, refresh_token: str) -> httpx.Response:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        }
        return await self.http.post(f"{base}/token", data=form, headers=self.headers)

    async def call_mcp(self, gateway: str, access_token: str) -> int:
        """GET /mcp through the gateway: ForwardAuth, then the echo upstream."""
        response = await self.http.get(
            f"{gateway}/mcp",
            headers={**self.headers, "authorization": f"Bearer {access_token}"},
        )
        return response.status_code
