"""The one seam between mcp-gatekeeper and an upstream identity provider.

Every provider (generic OIDC, Google, GitHub, the local demo) implements ``IdentityProvider``:
start a login, finish it from the callback, and re-check a known user later (refresh). Policies
common to all (allowed domains, emails, groups) are applied by the caller, not here; a provider
only refuses what only it can judge (unverified email, wrong Workspace domain, not in the org).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class UpstreamIdentity:
    """A user as the identity provider vouches for them."""

    #: Stable and unique within the provider (OIDC ``sub``, GitHub numeric id).
    subject: str
    email: str
    email_verified: bool
    groups: tuple[str, ...] = ()
    name: str = ""
    #: Provider-private material for ``recheck`` (an upstream refresh token, a GitHub user
    #: token). Kept server-side only; never sent to MCP clients or accepted from them.
    recheck_secret: str | None = field(default=None, repr=False)
    #: ``provider.copyClaims`` as the provider stated them (bounded), for rules to read.
    claims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoginRedirect:
    """Where to send the browser, and what ``complete`` will need back (kept server-side)."""

    url: str
    secrets: Mapping[str, str]


class ProviderError(Exception):
    """The provider failed (unreachable, bad answer): not the user's fault."""


class LoginDenied(Exception):
    """The provider vouched for the user but the user may not log in; ``reason`` is shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProviderToken:
    """The provider's access token for a user (``proxy.hosts[].upstream``)."""

    access_token: str = field(repr=False)
    #: None when the provider states no expiry (a GitHub OAuth App token).
    expires_at: float | None
    #: The login secret to keep from now on: a rotated refresh token, or the one given.
    secret: str = field(repr=False)


class ProviderTokens(Protocol):
    """Providers whose login secret yields the provider's own token for the user."""

    async def user_token(self, secret: str) -> ProviderToken:
        """A current access token from ``recheck_secret``, or ``LoginDenied``/``ProviderError``."""
        ...

    async def token_endpoint_call(self, form: Mapping[str, str]) -> dict[str, Any]:
        """A grant at the provider's token endpoint, as its login client (token exchange)."""
        ...


class IdentityProvider(Protocol):
    """What every upstream identity provider does."""

    async def begin(self, *, callback_url: str, state: str) -> LoginRedirect:
        """The IdP authorization URL carrying ``state``, plus per-login secrets (PKCE, nonce)."""
        ...

    async def complete(
        self, *, callback_url: str, params: Mapping[str, str], secrets: Mapping[str, str]
    ) -> UpstreamIdentity:
        """Exchange the callback's ``code`` and vouch for the user, or raise
        ``LoginDenied`` / ``ProviderError``."""
        ...

    async def recheck(self, identity: UpstreamIdentity) -> UpstreamIdentity:
        """The user's current state (groups, membership), or ``LoginDenied`` if they lost
        access. Providers that cannot re-check return ``identity`` unchanged."""
        ...
