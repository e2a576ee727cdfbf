"""Drives the browser part of a login in process, as a person with the demo provider would."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from mcp_gatekeeper.pkce import s256

REDIRECT_URI = "http://127.0.0.1:3030/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def hidden_inputs(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def ticked_scopes(html: str) -> list[str]:
    """The scope checkboxes a browser would submit as the page shows them."""
    return re.findall(r'<input type="checkbox" name="scope" value="([^"]+)" checked>', html)


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


@dataclass
class Login:
    client_id: str
    verifier: str
    state: str
    redirect_uri: str = REDIRECT_URI
    extra: dict[str, str] = field(default_factory=dict)


class Driver:
    def __init__(self, client: httpx.AsyncClient, host: str = "a.example.test") -> None:
        self.client = client
        self.host = host

    async def register(self, **metadata: Any) -> dict[str, Any]:
        body = {
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "client_name": "Test Client",
            **metadata,
        }
        response = await self.client.post("/register", json=body, headers={"host": self.host})
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def authorize(self, client_id: str, **params: str) -> tuple[httpx.Response, Login]:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(8)
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
            "resource": f"https://{self.host}/mcp",
            **params,
        }
        query = {key: value for key, value in query.items() if value != ""}
        response = await self.client.get("/authorize", params=query, headers={"host": self.host})
        return response, Login(client_id, verifier, state, query.get("redirect_uri", REDIRECT_URI))

    async def follow(self, response: httpx.Response) -> httpx.Response:
        """Follow our own redirects (not the final one to the client)."""
        while response.status_code in (302, 303) and not response.headers["location"].startswith(
            "http://127.0.0.1:3030"
        ):
            location = response.headers["location"]
            parts = urlsplit(location)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            response = await self.client.get(target, headers={"host": parts.netloc or self.host})
        return response

    async def sign_in(self, authorize_response: httpx.Response) -> httpx.Response:
        """Demo login page → callback → consent page (or straight back to the client)."""
        page = await self.follow(authorize_response)
        assert page.status_code == 200, page.text
        form = hidden_inputs(page.text)
        callback = await self.client.get("/callback", params=form, headers={"host": self.host})
        return await self.follow(callback)

    async def answer_consent(
        self, page: httpx.Response, decision: str, scopes: list[str] | None = None
    ) -> httpx.Response:
        """Submit the consent form; ``scopes`` replaces the preselected ticks when given."""
        assert page.status_code == 200 and "Allow" in page.text, page.text
        form: dict[str, str | list[str]] = {**hidden_inputs(page.text), "decision": decision}
        form["scope"] = ticked_scopes(page.text) if scopes is None else scopes
        return await self.client.post("/consent", data=form, headers={"host": self.host})

    async def code_for(self, client_id: str, **params: str) -> tuple[str, Login]:
        response, login = await self.authorize(client_id, **params)
        page = await self.sign_in(response)
        if page.status_code == 200:
            page = await self.answer_consent(page, "approve")
        assert page.status_code == 303, page.text
        query = query_of(page.headers["location"])
        assert query["state"] == login.state
        return query["code"], login

    async def token(self, form: dict[str, str], **headers: str) -> httpx.Response:
        return await self.client.post("/token", data=form, headers={"host": self.host, **headers})

    async def exchange(
        self, code: str, login: Login, extra: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": login.redirect_uri,
                "client_id": login.client_id,
                "code_verifier": login.verifier,
                "resource": f"https://{self.host}/mcp",
                **(extra or {}),
            }
        )
