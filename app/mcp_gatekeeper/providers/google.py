"""Google: standard OIDC with Google's issuer, the Workspace ``hd`` check, and Directory groups.

https://developers.google.com/identity/openid-connect/openid-connect describes the flow; what
differs from plain OIDC is handled by overriding ``OidcProvider``'s hooks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from ..config.provider import ProviderConfig
from .base import LoginDenied, UpstreamIdentity
from .google_directory import DirectoryGroups, ServiceAccountKey
from .oidc import OidcProvider

GOOGLE_ISSUER = "https://accounts.google.com"


class GoogleProvider(OidcProvider):
    # Google's docs: "The value of iss in the ID token is equal to accounts.google.com or
    # https://accounts.google.com" (Validating an ID token).
    extra_issuers = ("accounts.google.com",)
    # Google ID tokens carry no groups; Workspace groups come from the Directory API.
    groups_from_claims = False

    def __init__(
        self,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, http, clock, issuer=GOOGLE_ISSUER)
        google = config.google
        self.hosted_domain = google.hosted_domain
        self.directory: DirectoryGroups | None = None
        if google.service_account_key is not None and google.admin_email is not None:
            key = ServiceAccountKey.from_json(google.service_account_key.get_secret_value())
            self.directory = DirectoryGroups(key, google.admin_email, http, clock)

    def extra_authorize_params(self) -> dict[str, str]:
        # Google does not implement offline_access; access_type=offline is its way to issue a
        # refresh token (on the first consent), which recheck then uses.
        params = {"access_type": "offline"}
        if self.hosted_domain:
            # Only a hint for the account chooser: anyone can strip it from the URL, so the ID
            # token's hd claim is what is checked (Google's docs say exactly this).
            params["hd"] = self.hosted_domain
        return params

    def check_claims(self, claims: Mapping[str, Any]) -> None:
        if self.hosted_domain is None:
            return
        hd = claims.get("hd")
        if not isinstance(hd, str) or hd.lower() != self.hosted_domain.lower():
            raise LoginDenied(
                f"sign in with a Google Workspace account of {self.hosted_domain}"
                + (f" (this one belongs to {hd})" if isinstance(hd, str) else " (this is not one)")
            )

    async def groups(self, claims: Mapping[str, Any], email: str) -> tuple[str, ...]:
        if self.directory is None:
            return ()
        return await self.directory.groups_of(email)

    async def recheck_without_refresh(self, identity: UpstreamIdentity) -> UpstreamIdentity:
        # Without an upstream refresh token the Directory still tells the current groups.
        if self.directory is None:
            return identity
        return replace(identity, groups=await self.directory.groups_of(identity.email))
