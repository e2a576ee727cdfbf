"""Any standard OpenID Connect provider: Keycloak, Auth0, Okta, Entra ID, Dex, authentik, ...

Authorization code flow with PKCE S256 and a nonce (OIDC Core 1.0 §3.1, RFC 7636, RFC 9700
§2.1.1). The ID token is verified against the IdP's JWKS; userinfo fills in what it lacks.
With ``offline_access`` the upstream refresh token lets ``recheck`` read fresh claims (groups),
and an IdP that has ended the session answers it with ``invalid_grant``.

We never send ``resource`` (RFC 8707) upstream: the MCP client's resource names *our* MCP
server, which the IdP knows nothing about; the IdP only ever issues tokens for us.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from ..config.provider import ProviderConfig
from ..pkce import s256
from ..urls import add_query
from .base import LoginDenied, LoginRedirect, ProviderError, ProviderToken, UpstreamIdentity
from .copied_claims import copy_claims
from .id_token import verify_id_token
from .oidc_metadata import OidcDiscovery, OidcMetadata
from .upstream_http import (
    basic_auth,
    error_code,
    json_body,
    json_object,
    lifetime_of,
    random_token,
    send,
)

DEFAULT_SCOPES = ("openid", "email", "profile")
#: Asked for only when the IdP lists them in ``scopes_supported``: Dex puts groups in the ID
#: token only for the ``groups`` scope; ``offline_access`` (OIDC Core §11) yields a refresh token.
OPTIONAL_SCOPES = ("groups", "offline_access")
SESSION_ENDED = "your session at the identity provider ended"


def claim_groups(value: object) -> tuple[str, ...]:
    """Groups from a claim: a JSON list of strings, or one string separated by spaces/commas."""
    if isinstance(value, str):
        return tuple(g for g in re.split(r"[\s,]+", value) if g)
    if isinstance(value, list):
        return tuple(g for g in value if isinstance(g, str) and g)
    return ()


def email_is_verified(claims: Mapping[str, Any]) -> bool:
    verified = claims.get("email_verified")
    if verified is None:
        # Entra ID sends no email_verified; its optional claim xms_edov ("email domain owner
        # verified") is Microsoft's answer to unverified-email takeovers (nOAuth).
        verified = claims.get("xms_edov")
    # Some IdPs (AWS Cognito, older Okta) send the boolean as a string.
    return verified is True or verified == "true"


class OidcProvider:
    #: ID tokens may name these issuers besides the discovered one (Google: "accounts.google.com").
    extra_issuers: tuple[str, ...] = ()
    #: False where groups come from elsewhere (Google's Directory API), so a missing groups
    #: claim is no reason to call userinfo.
    groups_from_claims = True

    def __init__(
        self,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        *,
        issuer: str | None = None,
    ) -> None:
        issuer = issuer or config.issuer_url
        if not issuer:
            raise ValueError("an OIDC provider needs issuerURL")
        self.config = config
        self.http = http
        self.clock = clock
        self.discovery = OidcDiscovery(issuer, http, clock)
        secret = config.client_secret
        self._client_secret = "" if secret is None else secret.get_secret_value()

    # --- IdentityProvider ------------------------------------------------------------------
    async def begin(self, *, callback_url: str, state: str) -> LoginRedirect:
        metadata = await self.discovery.metadata()
        verifier, nonce = random_token(), random_token()
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": callback_url,
            "scope": " ".join(self.scopes(metadata)),
            "state": state,
            "nonce": nonce,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            **self.extra_authorize_params(),
        }
        url = add_query(metadata.authorization_endpoint, params)
        return LoginRedirect(url, {"code_verifier": verifier, "nonce": nonce})

    async def complete(
        self, *, callback_url: str, params: Mapping[str, str], secrets: Mapping[str, str]
    ) -> UpstreamIdentity:
        metadata = await self.discovery.metadata()
        _check_callback(params, metadata)
        code = params.get("code")
        verifier, nonce = secrets.get("code_verifier"), secrets.get("nonce")
        if not code:
            raise ProviderError("the identity provider's callback has no code")
        if not verifier or not nonce:
            raise ProviderError("this login's PKCE verifier or nonce is missing")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": callback_url,
            "code_verifier": verifier,
        }
        tokens = await self.token_request(metadata, form, refresh=False)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError("the token response has no id_token (was 'openid' granted?)")
        claims = await self._verify(metadata, id_token, nonce)
        claims = await self._with_userinfo(metadata, claims, tokens.get("access_token"))
        refresh = tokens.get("refresh_token")
        return await self.identity(claims, refresh if isinstance(refresh, str) else None)

    async def recheck(self, identity: UpstreamIdentity) -> UpstreamIdentity:
        if identity.recheck_secret is None:
            return await self.recheck_without_refresh(identity)
        metadata = await self.discovery.metadata()
        form = {"grant_type": "refresh_token", "refresh_token": identity.recheck_secret}
        tokens = await self.token_request(metadata, form, refresh=True)
        refresh = tokens.get("refresh_token")
        # Rotating IdPs (Okta, Auth0, Keycloak option) invalidate the old token: keep the new.
        secret = refresh if isinstance(refresh, str) else identity.recheck_secret
        claims: dict[str, Any] = {"sub": identity.subject}
        id_token = tokens.get("id_token")
        if isinstance(id_token, str):
            claims = await self._verify(metadata, id_token, None)
            # OIDC Core §12.2: a refreshed ID token must be about the same user.
            if claims["sub"] != identity.subject:
                raise ProviderError("the refreshed ID token is about another user")
        claims = await self._with_userinfo(metadata, claims, tokens.get("access_token"))
        if "email" not in claims:
            # Neither a new ID token nor userinfo: the refresh proves the session lives, no more.
            return replace(identity, recheck_secret=secret)
        return await self.identity(claims, secret)

    # --- ProviderTokens: the provider's token for the user (proxy.hosts[].upstream) ---------
    async def user_token(self, secret: str) -> ProviderToken:
        metadata = await self.discovery.metadata()
        form = {"grant_type": "refresh_token", "refresh_token": secret}
        tokens = await self.token_request(metadata, form, refresh=True)
        access = tokens.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderError(f"the token endpoint of {metadata.issuer} gave no access_token")
        refresh = tokens.get("refresh_token")
        expires_in = tokens.get("expires_in")
        return ProviderToken(
            access,
            None if (lifetime := lifetime_of(expires_in)) is None else self.clock() + lifetime,
            # Rotating IdPs invalidate the old token: keep the new one.
            refresh if isinstance(refresh, str) and refresh else secret,
        )

    async def token_endpoint_call(self, form: Mapping[str, str]) -> dict[str, Any]:
        return await self.token_request(await self.discovery.metadata(), form, refresh=False)

    # --- hooks for specialisations (Google) -------------------------------------------------
    def scopes(self, metadata: OidcMetadata) -> list[str]:
        if self.config.scopes is not None:
            # Configured scopes are taken as they are (only openid is implied): Okta, for one,
            # refuses offline_access for apps without the refresh-token grant.
            chosen = list(self.config.scopes)
            return chosen if "openid" in chosen else ["openid", *chosen]
        extra = [s for s in OPTIONAL_SCOPES if s in metadata.scopes_supported]
        return [*DEFAULT_SCOPES, *extra]

    def extra_authorize_params(self) -> dict[str, str]:
        return {}

    def check_claims(self, claims: Mapping[str, Any]) -> None:
        """Raise ``LoginDenied`` for provider-specific reasons (Google's hosted domain)."""

    async def groups(self, claims: Mapping[str, Any], email: str) -> tuple[str, ...]:
        return claim_groups(claims.get(self.config.groups_claim))

    async def recheck_without_refresh(self, identity: UpstreamIdentity) -> UpstreamIdentity:
        return identity

    async def identity(self, claims: Mapping[str, Any], secret: str | None) -> UpstreamIdentity:
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise LoginDenied("the identity provider shared no email address for your account")
        if not email_is_verified(claims):
            raise LoginDenied(
                f"your email address {email} is not verified at the identity provider"
            )
        self.check_claims(claims)
        name = claims.get("name") or claims.get("preferred_username") or ""
        return UpstreamIdentity(
            subject=str(claims["sub"]),
            email=email,
            email_verified=True,
            groups=await self.groups(claims, email),
            name=name if isinstance(name, str) else "",
            recheck_secret=secret,
            claims=copy_claims(claims, self.config.copy_claims),
        )

    # --- token endpoint, ID token, userinfo --------------------------------------------------
    async def token_request(
        self, metadata: OidcMetadata, form: Mapping[str, str], *, refresh: bool
    ) -> dict[str, Any]:
        data = dict(form)
        headers = {"Accept": "application/json"}
        methods = metadata.token_auth_methods
        # OIDC Discovery §3: an IdP that lists no methods supports client_secret_basic, which
        # RFC 6749 §2.3.1 says every server must; post only where basic is not offered.
        if (
            methods is not None
            and "client_secret_basic" not in methods
            and ("client_secret_post" in methods)
        ):
            data |= {"client_id": self.config.client_id, "client_secret": self._client_secret}
        else:
            headers["Authorization"] = basic_auth(self.config.client_id, self._client_secret)
        response = await send(
            self.http, "POST", metadata.token_endpoint, data=data, headers=headers
        )
        if response.status_code == 200:
            return json_object(response)
        error = _error_code(response)
        if refresh and error == "invalid_grant":
            raise LoginDenied(SESSION_ENDED)
        raise ProviderError(
            f"the token endpoint of {metadata.issuer} answered {response.status_code} "
            f"{error or '(no error code)'}"
        )

    async def _verify(
        self, metadata: OidcMetadata, id_token: str, nonce: str | None
    ) -> dict[str, Any]:
        return await verify_id_token(
            id_token,
            discovery=self.discovery,
            metadata=metadata,
            client_id=self.config.client_id,
            issuers=(metadata.issuer, *self.extra_issuers),
            now=self.clock(),
            nonce=nonce,
        )

    async def _with_userinfo(
        self, metadata: OidcMetadata, claims: dict[str, Any], access_token: object
    ) -> dict[str, Any]:
        missing_groups = self.groups_from_claims and self.config.groups_claim not in claims
        # A claim to copy may be served by userinfo only (Okta's custom claims, Auth0's).
        missing_copied = any(name not in claims for name in self.config.copy_claims)
        if "email" in claims and not missing_groups and not missing_copied:
            return claims
        if metadata.userinfo_endpoint is None or not isinstance(access_token, str):
            return claims
        response = await send(
            self.http,
            "GET",
            metadata.userinfo_endpoint,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise ProviderError(f"userinfo of {metadata.issuer} answered {response.status_code}")
        userinfo = json_object(response)
        # OIDC Core §5.3.4: userinfo about another subject must not be used (token substitution).
        if userinfo.get("sub") != claims["sub"]:
            raise ProviderError("userinfo is about another subject than the ID token")
        # The signed ID token wins where both have a claim; userinfo only fills gaps.
        return {**userinfo, **claims}


def _check_callback(params: Mapping[str, str], metadata: OidcMetadata) -> None:
    # RFC 9207 §2.4: when the IdP sends iss, it must be the expected one (mix-up defence), and
    # an IdP that promises iss must send it.
    iss = params.get("iss")
    if iss is not None and iss != metadata.issuer:
        raise ProviderError("the callback comes from another issuer (RFC 9207 iss mismatch)")
    if iss is None and metadata.iss_parameter_supported:
        raise ProviderError("the callback lacks the iss parameter its IdP promises (RFC 9207)")
    error = params.get("error")
    if error is None:
        return
    code = error_code(error) or "an unknown error"
    if code == "access_denied":
        raise LoginDenied("the login was declined at the identity provider")
    raise ProviderError(f"the identity provider answered the login with {code}")


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = json_body(response)
    except ProviderError:
        return None
    return error_code(body.get("error")) if isinstance(body, dict) else None
