"""Google Workspace groups through the Admin SDK Directory API, as a service account.

The service account acts as a Workspace admin (domain-wide delegation) with a JWT-bearer
assertion (RFC 7523; https://developers.google.com/identity/protocols/oauth2/service-account
"Preparing to make an authorized API call"), then lists the user's groups
(https://developers.google.com/admin-sdk/directory/reference/rest/v1/groups/list) page by page.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .base import ProviderError
from .upstream_http import MAX_PAGES, json_object, send

GROUP_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly"
GROUPS_URL = "https://admin.googleapis.com/admin/directory/v1/groups"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Google accepts assertions valid for at most one hour; a short one limits a leaked assertion.
ASSERTION_LIFETIME = 600
#: groups.list allows maxResults up to 200; fewer pages, fewer round trips.
PAGE_SIZE = "200"


@dataclass(frozen=True)
class ServiceAccountKey:
    client_email: str
    private_key_id: str | None
    private_key: RSAPrivateKey
    token_uri: str

    @classmethod
    def from_json(cls, text: str) -> ServiceAccountKey:
        """Parse the JSON key file Google's console downloads; ``ValueError`` says what is off."""
        try:
            data = json.loads(text)
            email, pem, token_uri = data["client_email"], data["private_key"], data["token_uri"]
            key = load_pem_private_key(pem.encode(), password=None)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"google.serviceAccountKey is no service-account JSON key: {exc!r}"
            ) from exc
        if not isinstance(key, RSAPrivateKey) or not isinstance(email, str):
            raise ValueError("google.serviceAccountKey must hold an RSA key and client_email")
        kid = data.get("private_key_id")
        return cls(email, kid if isinstance(kid, str) else None, key, str(token_uri))


class DirectoryGroups:
    """The group emails of a Workspace user, read as ``admin_email``."""

    def __init__(
        self,
        key: ServiceAccountKey,
        admin_email: str,
        http: httpx.AsyncClient,
        clock: Callable[[], float],
    ) -> None:
        self._key = key
        self._admin_email = admin_email
        self._http = http
        self._clock = clock
        self._token: tuple[float, str] | None = None
        self._lock = asyncio.Lock()

    def assertion(self) -> str:
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self._key.client_email,
            # sub: the admin impersonated through domain-wide delegation.
            "sub": self._admin_email,
            "scope": GROUP_SCOPE,
            "aud": self._key.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"kid": self._key.private_key_id} if self._key.private_key_id else None
        return jwt.encode(claims, self._key.private_key, algorithm="RS256", headers=headers)

    async def _access_token(self) -> str:
        async with self._lock:
            now = self._clock()
            if self._token is not None and now < self._token[0]:
                return self._token[1]
            form = {"grant_type": JWT_BEARER, "assertion": self.assertion()}
            response = await send(self._http, "POST", self._key.token_uri, data=form)
            body = json_object(response)
            token = body.get("access_token")
            if response.status_code != 200 or not isinstance(token, str):
                raise ProviderError(
                    f"Google refused the service account's token ({body.get('error')!r}); is "
                    f"domain-wide delegation granted for {GROUP_SCOPE}?"
                )
            expires_in = body.get("expires_in")
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
            # Renew a minute early so a token never expires between check and use.
            self._token = (now + lifetime - 60, token)
            return token

    async def groups_of(self, email: str) -> tuple[str, ...]:
        groups: list[str] = []
        page_token: str | None = None
        for _ in range(MAX_PAGES):
            params = {"userKey": email, "maxResults": PAGE_SIZE}
            if page_token:
                params["pageToken"] = page_token
            body = await self._get(params)
            if body is None:
                return ()
            for group in body.get("groups") or []:
                if isinstance(group, dict) and isinstance(group.get("email"), str):
                    groups.append(group["email"])
            next_token = body.get("nextPageToken")
            if not isinstance(next_token, str) or not next_token:
                return tuple(groups)
            page_token = next_token
        raise ProviderError(f"the Directory API listed more than {MAX_PAGES} pages of groups")

    async def _get(self, params: dict[str, str]) -> dict[str, Any] | None:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self._access_token()}"}
            response = await send(self._http, "GET", GROUPS_URL, params=params, headers=headers)
            if response.status_code == 401 and attempt == 1:
                # The cached token was revoked or expired early: mint a new one, once.
                self._token = None
                continue
            if response.status_code == 404:
                # userKey unknown to this Workspace (a consumer account): no groups here.
                return None
            if response.status_code != 200:
                raise ProviderError(f"the Directory API answered {response.status_code}")
            return json_object(response)
        raise ProviderError("the Directory API refused a fresh service-account token")
