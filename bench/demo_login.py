"""A real access token from a running service: register a client, sign in with the demo
provider, approve, exchange the code. Used by ``stores.py`` (servers in other processes)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx

REDIRECT_URI = "http://127.0.0.1:3030/callback"


def _hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def demo_token(base: str, host: str) -> str:
    headers = {"host": host}
    with httpx.Client(base_url=base, headers=headers, timeout=10.0, trust_env=False) as http:
        registered = http.post(
            "/register",
            json={
                "redirect_uris": [REDIRECT_URI],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code"],
            },
        )
        client_id = registered.raise_for_status().json()["client_id"]
        verifier = secrets.token_urlsafe(48)
        challenge = hashlib.sha256(verifier.encode()).digest()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "code_challenge": base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "resource": f"http://{host}/mcp",
        }
        response = http.get("/authorize", params=query)
        for _step in range(6):
            location = response.headers.get("location", "")
            if location.startswith(REDIRECT_URI):
                break
            if response.status_code == 303:
                response = http.get(urlsplit(location).path + "?" + urlsplit(location).query)
            elif "demo-user-approved" in response.text:
                response = http.get("/callback", params=_hidden(response.text))
            else:
                form = {**_hidden(response.text), "decision": "approve"}
                response = http.post("/consent", data=form)
        code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
        tokens = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
        token: str = tokens.raise_for_status().json()["access_token"]
        return token
