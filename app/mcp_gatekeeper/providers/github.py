"""GitHub (github.com or Enterprise Server) user login: OAuth 2.0, not OIDC.

Flow and quirks from https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/
authorizing-oauth-apps: the token endpoint answers JSON only with ``Accept: application/json``
and reports errors as HTTP 200 with ``error=``. Identity comes from the REST API: ``/user``,
``/user/emails`` (primary and verified), ``/user/teams`` and ``/user/orgs`` (groups), and
``/user/memberships/orgs/{org}`` (the organization gate). Lists are paged with ``Link``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ..config.provider import ProviderConfig
from ..pkce import s256
from ..urls import add_query
from .base import LoginDenied, LoginRedirect, ProviderError, ProviderToken, UpstreamIdentity
from .upstream_http import (
    error_code,
    expect_ok,
    get_pages,
    json_body,
    json_object,
    lifetime_of,
    random_token,
    send,
)

#: read:org lets /user/teams, /user/orgs and the membership call see private memberships.
DEFAULT_SCOPES = ("read:user", "user:email", "read:org")
API_HEADERS = {
    "Accept": "application/vnd.github+json",
    # Pin the REST API version (https://docs.github.com/en/rest/about-the-rest-api/api-versions).
    "X-GitHub-Api-Version": "2022-11-28",
}
#: Refresh a GitHub App user token this long before it expires (they live 8 hours).
EXPIRY_MARGIN = 60.0
SESSION_ENDED = "your GitHub authorization was revoked or has expired"


class GitHubProvider:
    def __init__(
        self,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.http = http
        self.clock = clock
        self.web_url = config.github.web_url.rstrip("/")
        self.api_url = config.github.api_url.rstrip("/")
        secret = config.client_secret
        self._client_secret = "" if secret is None else secret.get_secret_value()

    async def begin(self, *, callback_url: str, state: str) -> LoginRedirect:
        verifier = random_token()
        params = {
            "client_id": self.config.client_id,
            "redirect_uri": callback_url,
            "scope": " ".join(self.config.scopes or DEFAULT_SCOPES),
            "state": state,
            # GitHub supports PKCE S256 (changelog 2025-07-14); servers that predate it ignore
            # unknown parameters (RFC 6749 §3.1), so sending it never hurts.
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        url = add_query(f"{self.web_url}/login/oauth/authorize", params)
        return LoginRedirect(url, {"code_verifier": verifier})

    async def complete(
        self, *, callback_url: str, params: Mapping[str, str], secrets: Mapping[str, str]
    ) -> UpstreamIdentity:
        error = params.get("error")
        if error == "access_denied":
            raise LoginDenied("the login was declined at GitHub")
        if error is not None:
            # e.g. redirect_uri_mismatch, application_suspended (GitHub's docs, "Troubleshooting
            # authorization request errors").
            raise ProviderError(f"GitHub answered the login with {error_code(error) or 'an error'}")
        code = params.get("code")
        if not code:
            raise ProviderError("GitHub's callback has no code")
        form = {"code": code, "redirect_uri": callback_url}
        if "code_verifier" in secrets:
            form["code_verifier"] = secrets["code_verifier"]
        tokens = await self._token(form, refresh=False)
        return await self._identity(tokens)

    async def recheck(self, identity: UpstreamIdentity) -> UpstreamIdentity:
        if identity.recheck_secret is None:
            return identity
        tokens = _load_secret(identity.recheck_secret)
        expires_at = tokens.get("expires_at")
        refresh_token = tokens.get("refresh_token")
        if (
            isinstance(refresh_token, str)
            and isinstance(expires_at, int | float)
            and (self.clock() >= expires_at - EXPIRY_MARGIN)
        ):
            form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
            tokens = await self._token(form, refresh=True)
        fresh = await self._identity(tokens)
        if fresh.subject != identity.subject:
            raise ProviderError("GitHub's token now belongs to another user")
        return fresh

    # --- ProviderTokens: the user's GitHub token (proxy.hosts[].upstream) ------------------
    async def user_token(self, secret: str) -> ProviderToken:
        tokens = _load_secret(secret)
        expires_at = tokens.get("expires_at")
        refresh_token = tokens.get("refresh_token")
        expiring = (
            isinstance(expires_at, int | float) and self.clock() >= expires_at - EXPIRY_MARGIN
        )
        if isinstance(refresh_token, str) and expiring:
            form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
            tokens = await self._token(form, refresh=True)
            expires_at = tokens.get("expires_at")
        expiry = float(expires_at) if isinstance(expires_at, int | float) else None
        return ProviderToken(tokens["access_token"], expiry, json.dumps(tokens))

    async def token_endpoint_call(self, form: Mapping[str, str]) -> dict[str, Any]:
        raise ProviderError("GitHub has no token exchange: use source login")

    # --- token endpoint ----------------------------------------------------------------------
    async def _token(self, form: Mapping[str, str], *, refresh: bool) -> dict[str, Any]:
        data = {"client_id": self.config.client_id, "client_secret": self._client_secret, **form}
        # Without Accept: application/json GitHub answers application/x-www-form-urlencoded.
        response = await send(
            self.http,
            "POST",
            f"{self.web_url}/login/oauth/access_token",
            data=data,
            headers={"Accept": "application/json"},
        )
        body = json_object(expect_ok(response, "GitHub's token exchange"))
        error = body.get("error")
        if error is not None:
            # GitHub's quirk: errors come as 200 (bad_verification_code, bad_refresh_token, ...).
            if refresh and error == "bad_refresh_token":
                raise LoginDenied(SESSION_ENDED)
            raise ProviderError(f"GitHub refused the token exchange: {error_code(error)}")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ProviderError("GitHub's token response has no access_token")
        tokens: dict[str, Any] = {"access_token": token}
        refresh_token = body.get("refresh_token")
        expires_in = body.get("expires_in")
        # GitHub Apps with expiring user tokens return these (8 h token, 6 month refresh token).
        if isinstance(refresh_token, str) and refresh_token:
            tokens["refresh_token"] = refresh_token
        lifetime = lifetime_of(expires_in)
        if lifetime is not None:
            tokens["expires_at"] = self.clock() + lifetime
        return tokens

    # --- REST API ------------------------------------------------------------------------------
    async def _identity(self, tokens: dict[str, Any]) -> UpstreamIdentity:
        headers = {**API_HEADERS, "Authorization": f"Bearer {tokens['access_token']}"}
        user = await self._get_one("/user", headers)
        user_id, login = user.get("id"), user.get("login")
        if not isinstance(user_id, int) or not isinstance(login, str):
            raise ProviderError("GitHub's /user answer has no numeric id and login")
        if self.config.organization:
            await self._require_member(self.config.organization, headers)
        emails = await self._get_list("/user/emails", headers)
        email = next(
            (
                e["email"]
                for e in emails
                if isinstance(e, dict)
                and e.get("primary") is True
                and e.get("verified") is True
                and isinstance(e.get("email"), str)
            ),
            None,
        )
        if email is None:
            raise LoginDenied("your GitHub account has no verified primary email address")
        groups: list[str] = []
        for team in await self._get_list("/user/teams", headers):
            org = team.get("organization") if isinstance(team, dict) else None
            if isinstance(org, dict) and isinstance(org.get("login"), str):
                groups.append(f"{org['login']}/{team.get('slug')}")
        for org in await self._get_list("/user/orgs", headers):
            if isinstance(org, dict) and isinstance(org.get("login"), str):
                groups.append(org["login"])
        name = user.get("name")
        return UpstreamIdentity(
            subject=f"github|{user_id}",
            email=email,
            email_verified=True,
            groups=tuple(dict.fromkeys(groups)),
            name=name if isinstance(name, str) and name else login,
            recheck_secret=json.dumps(tokens),
        )

    async def _require_member(self, org: str, headers: Mapping[str, str]) -> None:
        url = f"{self.api_url}/user/memberships/orgs/{quote(org, safe='')}"
        response = await send(self.http, "GET", url, headers=headers)
        _check_auth(response)
        if response.status_code == 403:
            # The org restricts OAuth App access or enforces SAML SSO for this token.
            raise LoginDenied(
                f"the GitHub organization {org} has not approved this app for your account "
                "(OAuth App access restrictions or SAML SSO); ask an organization owner"
            )
        state = json_object(response).get("state") if response.status_code == 200 else None
        if state != "active":
            raise LoginDenied(f"you are not an active member of the GitHub organization {org}")

    async def _get_one(self, path: str, headers: Mapping[str, str]) -> dict[str, Any]:
        response = await send(self.http, "GET", self.api_url + path, headers=headers)
        _check_auth(response)
        return json_object(expect_ok(response, f"GitHub's {path}"))

    async def _get_list(self, path: str, headers: Mapping[str, str]) -> list[Any]:
        url = add_query(self.api_url + path, {"per_page": "100"})
        items: list[Any] = []
        for response in await get_pages(self.http, url, headers, f"GitHub's {path}"):
            _check_auth(response)
            body = json_body(expect_ok(response, f"GitHub's {path}"))
            if not isinstance(body, list):
                raise ProviderError(f"GitHub's {path} answered no list")
            items.extend(body)
        return items


def _check_auth(response: httpx.Response) -> None:
    # 401 means the user token is no longer valid: revoked, app uninstalled, or expired.
    if response.status_code == 401:
        raise LoginDenied(SESSION_ENDED)


def _load_secret(secret: str) -> dict[str, Any]:
    try:
        tokens = json.loads(secret)
    except ValueError as exc:
        raise ProviderError("the stored GitHub token is malformed") from exc
    if not isinstance(tokens, dict) or not isinstance(tokens.get("access_token"), str):
        raise ProviderError("the stored GitHub token is malformed")
    return tokens
