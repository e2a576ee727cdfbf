"""A fake Google: the OIDC endpoints and the Admin SDK Directory API the Google provider uses.

Reached only through ``httpx.ASGITransport`` (no sockets): one Starlette app answers for every
Google host and checks the Host of each request, so a provider calling the wrong host fails.
Shapes follow Google's docs: the discovery document of accounts.google.com, the token endpoint
(authorization_code, refresh_token, and the service-account jwt-bearer grant), the JWKS, and
directory/v1/groups with ``nextPageToken`` paging.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from mcp_gatekeeper.providers.google_directory import GROUP_SCOPE, JWT_BEARER

ISSUER = "https://accounts.google.com"
TOKEN_URI = "https://oauth2.googleapis.com/token"
DISCOVERY = {
    "issuer": ISSUER,
    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_endpoint": TOKEN_URI,
    "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
    "revocation_endpoint": "https://oauth2.googleapis.com/revoke",
    "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
    "response_types_supported": ["code", "token", "id_token", "code token", "none"],
    "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
    "scopes_supported": ["openid", "email", "profile"],
    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    "code_challenge_methods_supported": ["plain", "S256"],
}


@dataclass
class GoogleUser:
    sub: str
    email: str
    email_verified: bool = True
    hd: str | None = None


@dataclass
class FakeGoogle:
    clock: Callable[[], float]
    client_id: str
    client_secret: str
    sa_email: str
    sa_public_key: rsa.RSAPublicKey
    signing_key: rsa.RSAPrivateKey
    kid: str = "google-1"
    user: GoogleUser = field(default_factory=lambda: GoogleUser("1001", "ann@corp.test"))
    #: The ``iss`` put in ID tokens (Google uses both spellings).
    iss: str = ISSUER
    #: Replaces normal RS256 signing of ID tokens (to forge HS256 / none tokens).
    sign: Callable[[dict[str, Any]], str] | None = None
    groups: dict[str, list[str]] = field(default_factory=dict)
    page_size: int = 2
    assertions: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    authorize_params: list[dict[str, str]] = field(default_factory=list)
    directory_calls: list[dict[str, str]] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    _codes: dict[str, dict[str, str]] = field(default_factory=dict)
    _refresh: dict[str, GoogleUser] = field(default_factory=dict)
    _admin_tokens: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> Starlette:
        def on(host: str, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
            async def endpoint(request: Request) -> Response:
                if request.url.hostname != host:
                    return JSONResponse({"error": f"wrong host {request.url.hostname}"}, 404)
                response: Response = await handler(request)
                return response

            return endpoint

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", on("accounts.google.com", self._disco)),
                Route("/o/oauth2/v2/auth", on("accounts.google.com", self._authorize)),
                Route("/token", on("oauth2.googleapis.com", self._token), methods=["POST"]),
                Route("/oauth2/v3/certs", on("www.googleapis.com", self._certs)),
                Route("/admin/directory/v1/groups", on("admin.googleapis.com", self._groups)),
            ]
        )

    def _new(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    async def _disco(self, request: Request) -> Response:
        return JSONResponse(DISCOVERY)

    async def _certs(self, request: Request) -> Response:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]})

    async def _authorize(self, request: Request) -> Response:
        """Auto-approves ``self.user`` and redirects to the redirect_uri with a code."""
        params = dict(request.query_params)
        self.authorize_params.append(params)
        code = self._new("code")
        self._codes[code] = params
        query = urlencode({"code": code, "state": params["state"]})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", 302)

    def id_token(self, user: GoogleUser, nonce: str | None) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.iss,
            "azp": self.client_id,
            "aud": self.client_id,
            "sub": user.sub,
            "email": user.email,
            "email_verified": user.email_verified,
            "iat": now,
            "exp": now + 3600,
        }
        if user.hd:
            claims["hd"] = user.hd
        if nonce:
            claims["nonce"] = nonce
        if self.sign is not None:
            return self.sign(claims)
        return jwt.encode(claims, self.signing_key, "RS256", headers={"kid": self.kid})

    async def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = form.get("grant_type")
        if grant == JWT_BEARER:
            return self._service_account_token(form["assertion"])
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, 401)
        if grant == "authorization_code":
            asked = self._codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if (
                asked is None
                or asked["redirect_uri"] != form.get("redirect_uri")
                or asked["code_challenge"] != challenge.rstrip(b"=").decode()
            ):
                return JSONResponse({"error": "invalid_grant"}, 400)
            body = {"access_token": self._new("at"), "expires_in": 3599, "token_type": "Bearer"}
            body["id_token"] = self.id_token(self.user, asked["nonce"])
            if asked.get("access_type") == "offline":
                body["refresh_token"] = refresh = self._new("rt")
                self._refresh[refresh] = self.user
            return JSONResponse(body)
        if grant == "refresh_token":
            token = form.get("refresh_token", "")
            if token not in self._refresh or token in self.revoked:
                error = {"error": "invalid_grant", "error_description": "Token has been revoked."}
                return JSONResponse(error, 400)
            user = self._refresh[token]
            # Google does not rotate refresh tokens; a refresh returns a new ID token.
            return JSONResponse(
                {"access_token": self._new("at"), "id_token": self.id_token(user, None)}
            )
        return JSONResponse({"error": "unsupported_grant_type"}, 400)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            pair = (unquote_plus(client_id), unquote_plus(secret))
        else:
            pair = (form.get("client_id", ""), form.get("client_secret", ""))
        return pair == (self.client_id, self.client_secret)

    def _service_account_token(self, assertion: str) -> Response:
        """Verifies the assertion with the service account's public key, as Google does."""
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                self.sa_public_key,
                algorithms=["RS256"],
                audience=TOKEN_URI,
                issuer=self.sa_email,
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": str(exc)}, 400)
        now = self.clock()
        if not claims["iat"] <= now < claims["exp"] or claims["exp"] - claims["iat"] > 3600:
            return JSONResponse({"error": "invalid_grant", "error_description": "bad times"}, 400)
        if claims.get("scope") != GROUP_SCOPE:
            return JSONResponse({"error": "unauthorized_client"}, 400)
        self.assertions.append((header, claims))
        token = self._new("admin")
        self._admin_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    async def _groups(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self._admin_tokens:
            return JSONResponse({"error": {"code": 401, "message": "Invalid Credentials"}}, 401)
        params = dict(request.query_params)
        self.directory_calls.append(params)
        if params["userKey"] not in self.groups:
            return JSONResponse({"error": {"code": 404, "message": "Resource Not Found"}}, 404)
        size = min(int(params.get("maxResults", "200")), self.page_size)
        start = int(params.get("pageToken", "0"))
        emails = self.groups[params["userKey"]]
        page = emails[start : start + size]
        body: dict[str, Any] = {
            "kind": "admin#directory#groups",
            "groups": [{"kind": "admin#directory#group", "email": g} for g in page],
        }
        if start + size < len(emails):
            body["nextPageToken"] = str(start + size)
        return JSONResponse(body)
