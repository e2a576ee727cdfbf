"""One user's credential for one host's upstream API, made from what the store keeps.

Runs only on a cache miss (``cache.py``), within the host's ``timeout``; every failure becomes
``CredentialUnavailable`` with a reason fit for the log (upstream names and status codes, never
a token).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import replace

import httpx

from ..config.upstream import UpstreamConfig
from ..hosts import McpHost
from ..oauth.record_stores import RecordStore
from ..oauth.records import ConnectedAccount, ProviderGrant
from ..providers import IdentityProvider
from ..providers.base import ProviderTokens
from ..providers.upstream_http import MAX_LIFETIME, lifetime_of
from .cache import Credential, CredentialUnavailable
from .connected import access_token
from .exchange import exchange_token
from .provider_grants import provider_token

#: What an access token may hold (RFC 6750 §2.1 b64token, and the JWT alphabet): a value that
#: could end the header line, or smuggle another, is never handed to the gateway.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MAX_TOKEN_BYTES = 8192
#: A connected account's credential is served from memory this long at most, so an account the
#: user disconnected on another replica stops being used here within it.
CONNECTED_CACHE_SECONDS = 60.0


class CredentialFetcher:
    def __init__(
        self,
        grants: RecordStore[ProviderGrant],
        accounts: RecordStore[ConnectedAccount],
        provider: IdentityProvider,
        http: httpx.AsyncClient,
        clock: Callable[[], float],
        grant_ttl: float,
    ) -> None:
        self._grants = grants
        self._accounts = accounts
        self._provider = provider
        self._http = http
        self._clock = clock
        self._grant_ttl = grant_ttl

    async def make(self, host: McpHost, subject: str) -> Credential:
        upstream = host.config.upstream
        if upstream is None:
            raise CredentialUnavailable("this host has no upstream credential")
        try:
            async with asyncio.timeout(upstream.timeout.total_seconds()):
                if upstream.source == "connected":
                    token, expires_at = await access_token(
                        self._accounts,
                        self._http,
                        upstream,
                        host.host,
                        subject,
                        self._clock(),
                        self._grant_ttl,
                    )
                else:
                    token, expires_at = await self._token(upstream, subject)
        except TimeoutError:
            raise CredentialUnavailable(f"no answer within {upstream.timeout}") from None
        credential = self._credential(upstream, token, expires_at)
        if upstream.source != "connected":
            return credential
        cap = self._clock() + CONNECTED_CACHE_SECONDS
        return replace(credential, fresh_until=min(credential.fresh_until, cap))

    async def _token(self, upstream: UpstreamConfig, subject: str) -> tuple[str, float | None]:
        provider = self._provider
        if not (hasattr(provider, "user_token") and hasattr(provider, "token_endpoint_call")):
            raise CredentialUnavailable("this identity provider hands over no tokens")
        tokens: ProviderTokens = provider  # type: ignore[assignment]
        now = self._clock()
        own = await provider_token(self._grants, tokens, subject, now, self._grant_ttl)
        if upstream.source == "login":
            return own.access_token, own.expires_at
        answer = await exchange_token(self._http, tokens, upstream, own.access_token)
        access, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(access, str):
            raise CredentialUnavailable("the token exchange answered no access_token")
        lifetime = lifetime_of(expires_in)
        return access, None if lifetime is None else self._clock() + lifetime

    def _credential(
        self, upstream: UpstreamConfig, token: str, expires_at: float | None
    ) -> Credential:
        if len(token) > MAX_TOKEN_BYTES or not _TOKEN.fullmatch(token):
            raise CredentialUnavailable("the upstream token is not a token a header can carry")
        now = self._clock()
        if expires_at is None or not expires_at <= now + MAX_LIFETIME:
            # None, or a provider's stated expiry that is no usable number (NaN, Infinity).
            expires_at = now + upstream.default_lifetime.total_seconds()
        if expires_at <= now:
            raise CredentialUnavailable("the upstream token has already expired")
        margin = upstream.refresh_before.total_seconds()
        # A token shorter-lived than the margin is served for half its life, never past it.
        fresh_until = max(expires_at - margin, now + (expires_at - now) / 2)
        value = f"{upstream.scheme} {token}" if upstream.scheme else token
        return Credential(value.encode("ascii"), expires_at, fresh_until)
