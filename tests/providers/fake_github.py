"""A fake GitHub (github.com or Enterprise Server): OAuth web flow and the REST calls used.

Reached only through ``httpx.ASGITransport``. It keeps GitHub's documented quirks: the token
endpoint answers form-encoded unless ``Accept: application/json``, reports errors as HTTP 200
with ``error``, and GitHub App user tokens may expire (8 h) with a rotating refresh token;
lists are paged with ``Link: <...>; rel="next"``; unknown tokens get 401 "Bad credentials".
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class GitHubUser:
    id: int
    login: str
    emails: list[dict[str, Any]] = field(default_factory=list)
    teams: list[tuple[str, str]] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    #: org -> membership state ("active" or "pending"); absent: not a member (404).
    memberships: dict[str, str] = field(default_factory=dict)
    name: str | None = None


@dataclass
class FakeGitHub:
    clock: Callable[[], float]
    client_id: str
    client_secret: str
    user: GitHubUser
    web_host: str = "github.com"
    api_host: str = "api.github.com"
    api_prefix: str = ""
    page_size: int = 2
    #: GitHub App with expiring user tokens (8 h) and refresh tokens.
    expiring: bool = False
    #: Orgs that restrict OAuth App access: the membership call answers 403.
    restricted: set[str] = field(default_factory=set)
    #: Put list pages after the first on this host (a hostile or broken Link header).
    next_host: str | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)
    _codes: dict[str, dict[str, str]] = field(default_factory=dict)
    _tokens: dict[str, tuple[GitHubUser, float | None]] = field(default_factory=dict)
    _refresh: dict[str, GitHubUser] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> Starlette:
        api = self.api_prefix
        return Starlette(
            routes=[
                Route("/login/oauth/authorize", self._authorize),
                Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
                Route(f"{api}/user", self._api(self._user)),
                Route(f"{api}/user/emails", self._api(self._emails)),
                Route(f"{api}/user/teams", self._api(self._teams)),
                Route(f"{api}/user/orgs", self._api(self._orgs)),
                Route(f"{api}/user/memberships/orgs/{{org}}", self._api(self._membership)),
            ]
        )

    def revoke_tokens(self) -> None:
        """The user revoked the app (or it was uninstalled): every token is dead."""
        self._tokens.clear()
        self._refresh.clear()

    # --- web flow ----------------------------------------------------------------------------
    async def _authorize(self, request: Request) -> Response:
        assert request.url.hostname == self.web_host, request.url
        params = dict(request.query_params)
        code = f"code{next(self._ids)}"
        self._codes[code] = params
        query = urlencode({"code": code, "state": params["state"]})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", 302)

    async def _access_token(self, request: Request) -> Response:
        assert request.url.hostname == self.web_host, request.url
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        body = self._exchange(form)
        if request.headers.get("accept") != "application/json":
            # GitHub's default answer is form-encoded.
            return Response(urlencode(body), media_type="application/x-www-form-urlencoded")
        return JSONResponse(body)  # errors too: HTTP 200 with "error"

    def _exchange(self, form: dict[str, str]) -> dict[str, Any]:
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return {"error": "incorrect_client_credentials"}
        if form.get("grant_type") == "refresh_token":
            user = self._refresh.pop(form.get("refresh_token", ""), None)
            if user is None:
                return {"error": "bad_refresh_token", "error_description": "expired or revoked"}
            return self._issue(user)
        asked = self._codes.pop(form.get("code", ""), None)
        if asked is None:
            return {"error": "bad_verification_code", "error_description": "The code is wrong."}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if asked.get("code_challenge") != challenge or asked["redirect_uri"] != form.get(
            "redirect_uri"
        ):
            return {"error": "bad_verification_code", "error_description": "PKCE or redirect."}
        return self._issue(self.user)

    def _issue(self, user: GitHubUser) -> dict[str, Any]:
        token = f"gho_{next(self._ids)}"
        body: dict[str, Any] = {"access_token": token, "token_type": "bearer", "scope": ""}
        expires_at = None
        if self.expiring:
            expires_at = self.clock() + 28800
            refresh = f"ghr_{next(self._ids)}"
            self._refresh[refresh] = user
            body |= {"expires_in": 28800, "refresh_token": refresh}
            body["refresh_token_expires_in"] = 15897600
        self._tokens[token] = (user, expires_at)
        return body

    # --- REST API ----------------------------------------------------------------------------
    def _api(self, handler: Callable[[Request, GitHubUser], Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            assert request.url.hostname == self.api_host, request.url
            self.requests.append((request.url.hostname, request.url.path))
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            user, expires_at = self._tokens.get(token, (None, None))
            if user is None or (expires_at is not None and self.clock() >= expires_at):
                return JSONResponse({"message": "Bad credentials"}, 401)
            return handler(request, user)

        return endpoint

    def _user(self, request: Request, user: GitHubUser) -> Response:
        return JSONResponse({"id": user.id, "login": user.login, "name": user.name})

    def _page(self, request: Request, items: list[Any]) -> Response:
        size = min(int(request.query_params.get("per_page", "30")), self.page_size)
        page = int(request.query_params.get("page", "1"))
        response = JSONResponse(items[(page - 1) * size : page * size])
        if page * size < len(items):
            host = self.next_host or self.api_host
            query = urlencode({"per_page": size, "page": page + 1})
            last = urlencode({"per_page": size, "page": -(-len(items) // size)})
            base = f"https://{host}{request.url.path}"
            response.headers["link"] = f'<{base}?{query}>; rel="next", <{base}?{last}>; rel="last"'
        return response

    def _emails(self, request: Request, user: GitHubUser) -> Response:
        return self._page(request, user.emails)

    def _teams(self, request: Request, user: GitHubUser) -> Response:
        teams = [
            {"id": i, "slug": slug, "name": slug.title(), "organization": {"login": org}}
            for i, (org, slug) in enumerate(user.teams)
        ]
        return self._page(request, teams)

    def _orgs(self, request: Request, user: GitHubUser) -> Response:
        return self._page(request, [{"login": org, "id": i} for i, org in enumerate(user.orgs)])

    def _membership(self, request: Request, user: GitHubUser) -> Response:
        org = request.path_params["org"]
        if org in self.restricted:
            message = "Although you appear to have the correct authorization credentials, the "
            message += f"`{org}` organization has enabled OAuth App access restrictions"
            return JSONResponse({"message": message}, 403)
        if org not in user.memberships:
            return JSONResponse({"message": "Not Found"}, 404)
        state = user.memberships[org]
        return JSONResponse({"state": state, "role": "member", "organization": {"login": org}})
