"""OpenID Provider metadata (OIDC Discovery 1.0) and signing keys (JWKS), both cached.

One ``OidcDiscovery`` per configured IdP. The metadata is re-read every ``ttl`` seconds so an
IdP's endpoint or algorithm changes are picked up without a restart; the JWKS is re-read when
it is that old, or at once when an ID token names a key id it has not seen (key rotation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..paths import OPENID_CONFIGURATION_PATH
from .base import ProviderError
from .upstream_http import expect_ok, json_object, send

#: Asymmetric JWS algorithms only: ``none`` is never acceptable and an HS* ID token would be
#: signed with our own client secret, which any other holder of it could forge (RFC 8725 §3.1).
ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_TTL = 3600.0


@dataclass(frozen=True)
class OidcMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    revocation_endpoint: str | None
    scopes_supported: frozenset[str]
    #: None when the IdP does not say: OIDC Discovery §3 then means client_secret_basic.
    token_auth_methods: frozenset[str] | None
    signing_algs: frozenset[str]
    iss_parameter_supported: bool

    @classmethod
    def parse(cls, body: Mapping[str, Any], configured_issuer: str) -> OidcMetadata:
        issuer = body.get("issuer")
        # OIDC Discovery §4.3: the issuer MUST be identical to the URL discovery was fetched for
        # (mix-up defence). The configuration loader strips a trailing slash, and Auth0 and
        # authentik issuers end in one, so that single character is the only leeway.
        if not isinstance(issuer, str) or issuer.rstrip("/") != configured_issuer.rstrip("/"):
            raise ProviderError(
                f"discovery at {configured_issuer} names issuer {issuer!r}; it must be the same"
            )
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not _is_url(body.get(name)):
                raise ProviderError(f"discovery for {issuer} lacks {name}")
        algs = _strings(body.get("id_token_signing_alg_values_supported")) or {"RS256"}
        allowed = frozenset(algs) & ASYMMETRIC_ALGS
        if not allowed:
            raise ProviderError(
                f"{issuer} signs ID tokens only with {sorted(algs)}; "
                "mcp-gatekeeper accepts asymmetric algorithms only"
            )
        methods = body.get("token_endpoint_auth_methods_supported")
        return cls(
            issuer=issuer,
            authorization_endpoint=body["authorization_endpoint"],
            token_endpoint=body["token_endpoint"],
            jwks_uri=body["jwks_uri"],
            userinfo_endpoint=_url_or_none(body.get("userinfo_endpoint")),
            revocation_endpoint=_url_or_none(body.get("revocation_endpoint")),
            scopes_supported=frozenset(_strings(body.get("scopes_supported"))),
            token_auth_methods=None if methods is None else frozenset(_strings(methods)),
            signing_algs=allowed,
            iss_parameter_supported=body.get("authorization_response_iss_parameter_supported")
            is True,
        )


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _url_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and _is_url(value) else None


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class OidcDiscovery:
    """Cached metadata and JWKS of one issuer."""

    def __init__(
        self,
        issuer: str,
        http: httpx.AsyncClient,
        clock: Callable[[], float],
        ttl: float = DEFAULT_TTL,
    ) -> None:
        self.issuer = issuer
        self._http = http
        self._clock = clock
        self._ttl = ttl
        self._metadata: tuple[float, OidcMetadata] | None = None
        self._jwks: tuple[float, dict[str | None, dict[str, Any]]] | None = None
        # One fetch at a time: a burst of logins after a restart must not stampede the IdP.
        self._lock = asyncio.Lock()

    async def metadata(self) -> OidcMetadata:
        async with self._lock:
            now = self._clock()
            if self._metadata is None or now - self._metadata[0] >= self._ttl:
                url = self.issuer.rstrip("/") + OPENID_CONFIGURATION_PATH
                response = expect_ok(await send(self._http, "GET", url), "OIDC discovery")
                self._metadata = (now, OidcMetadata.parse(json_object(response), self.issuer))
            return self._metadata[1]

    async def key(self, kid: str | None) -> dict[str, Any]:
        """The JWK with ``kid``; an unknown kid triggers one re-read (the IdP rotated keys)."""
        keys = await self._keys(force=False)
        found = _pick(keys, kid)
        if found is None:
            found = _pick(await self._keys(force=True), kid)
        if found is None:
            raise ProviderError(f"{self.issuer} has no signing key with kid {kid!r}")
        return found

    async def _keys(self, *, force: bool) -> dict[str | None, dict[str, Any]]:
        metadata = await self.metadata()
        async with self._lock:
            now = self._clock()
            if force or self._jwks is None or now - self._jwks[0] >= self._ttl:
                response = expect_ok(await send(self._http, "GET", metadata.jwks_uri), "JWKS")
                raw = json_object(response).get("keys")
                if not isinstance(raw, list):
                    raise ProviderError(f"the JWKS of {self.issuer} has no keys array")
                # RFC 7517 §4.2: keys marked for encryption must not verify signatures.
                usable = [k for k in raw if isinstance(k, dict) and k.get("use", "sig") == "sig"]
                self._jwks = (now, {_kid(k): k for k in usable})
            return self._jwks[1]


def _kid(jwk: Mapping[str, Any]) -> str | None:
    kid = jwk.get("kid")
    return kid if isinstance(kid, str) else None


def _pick(keys: Mapping[str | None, dict[str, Any]], kid: str | None) -> dict[str, Any] | None:
    if kid is not None:
        return keys.get(kid)
    # A token without kid is only unambiguous when the IdP publishes exactly one key.
    return next(iter(keys.values())) if len(keys) == 1 else None
