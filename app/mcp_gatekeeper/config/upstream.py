"""``proxy.hosts[].upstream``: the signed-in user's credential for the API an MCP server calls.

On a 200, ``/authenticate`` hands the gateway one more header carrying it, and the gateway puts
it on the request to the MCP server (``forward_auth/credentials.py``). Where it comes from:

- ``login``: the identity provider's own token for the user, when the provider is the API
  (signing in with GitHub for the GitHub MCP server);
- ``tokenExchange``: that token exchanged at the identity provider for another audience
  (RFC 8693; ``style: entraOnBehalfOf`` for Entra ID's jwt-bearer on-behalf-of);
- ``connected``: the user's own account at the API, connected once through the API's OAuth
  authorization after consent (``oauth/connected_accounts.py``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from ..net import is_loopback_hostname
from .common import Duration, StrictModel

#: RFC 9110 §5.1 field names.
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
#: Headers a gateway must never take from an auth answer (framing, hop-by-hop, cookies).
_RESERVED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "cookie", "set-cookie", "te"}
)


def _secure_url(value: str) -> str:
    """An https URL, or http on loopback only: the client secret, the user's authorization code
    and their tokens go there."""
    if not re.match(r"^https?://[^/?#\s]+", value):
        raise ValueError("must be an https:// URL (http:// only on loopback)")
    parts = urlsplit(value)
    if parts.scheme == "http" and not is_loopback_hostname(parts.hostname or ""):
        raise ValueError("must be an https:// URL (http:// only on loopback)")
    return value


class TokenExchangeConfig(StrictModel):
    """Where and how the provider's token for the user is exchanged."""

    style: Literal["rfc8693", "entraOnBehalfOf"] = Field(
        "rfc8693",
        description="rfc8693: grant_type token-exchange (Keycloak, Okta, any RFC 8693 server); "
        "entraOnBehalfOf: grant_type jwt-bearer with requested_token_use=on_behalf_of",
    )
    token_endpoint: str | None = Field(
        None,
        alias="tokenEndpoint",
        description="Default: the identity provider's token endpoint (from its discovery)",
    )
    client_id: str | None = Field(
        None, alias="clientID", description="Default: the identity provider client's"
    )
    client_secret: SecretStr | None = Field(None, alias="clientSecret")
    audience: str | None = Field(None, description="RFC 8693 audience (the upstream API's name)")
    resource: str | None = Field(None, description="RFC 8693 / RFC 8707 resource (a URI)")

    @field_validator("token_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else _secure_url(value)


class ConnectedAccountConfig(StrictModel):
    """The OAuth client of this host for its upstream API (GitHub, Google, Atlassian, any
    OAuth 2 server): each user connects their account once, after consent, and the refresh
    token is kept sealed in the store. Register ``<issuer>/callback`` as its redirect URI."""

    authorize_url: str = Field(alias="authorizeURL")
    token_url: str = Field(alias="tokenURL")
    client_id: str = Field(alias="clientID", min_length=1)
    client_secret: SecretStr | None = Field(
        None, alias="clientSecret", description="Or clientSecretFile; none: a public client"
    )

    @field_validator("authorize_url", "token_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _secure_url(value)


class UpstreamConfig(StrictModel):
    """The per-user credential this host's MCP server calls its upstream API with."""

    source: Literal["login", "tokenExchange", "connected"] = Field(
        description="login: the identity provider's token (its scopes are provider.scopes); "
        "tokenExchange: that token exchanged for tokenExchange.audience and scopes; "
        "connected: each user's own connected account at the API (connected: its OAuth client)"
    )
    name: str = Field(
        description="The upstream API as users know it (GitHub, Jira): named on the consent "
        "page and in refusals"
    )
    header: str = Field(
        "Authorization",
        description="The header the gateway sets on the request to the MCP server; "
        "Authorization replaces the client's token (the gateway examples do)",
    )
    scheme: str = Field("Bearer", description="Put before the token; empty: the bare token")
    scopes: list[str] = Field(
        default_factory=list,
        description="Upstream permissions: asked for in the exchange, shown on the consent page",
    )
    token_exchange: TokenExchangeConfig | None = Field(None, alias="tokenExchange")
    connected: ConnectedAccountConfig | None = None
    timeout: Duration = Field(
        timedelta(seconds=5),
        description="How long one fetch may take before the request is refused",
    )
    refresh_before: Duration = Field(
        timedelta(seconds=60),
        alias="refreshBefore",
        description="A cached credential is fetched again this long before it expires",
    )
    default_lifetime: Duration = Field(
        timedelta(minutes=5),
        alias="defaultLifetime",
        description="How long a credential is kept whose upstream stated no expiry",
    )

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _FIELD_NAME.fullmatch(value) or value.lower() in _RESERVED:
            raise ValueError("must be an HTTP header name a gateway may set (not Host, Cookie...)")
        if value.lower() == "dpop":
            # The gateway shows the client's DPoP proof to /authenticate under this name.
            raise ValueError("DPoP carries the client's proof of possession; name another header")
        return value

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and not _FIELD_NAME.fullmatch(value):
            raise ValueError("must be one word (Bearer, token) or empty")
        return value

    @model_validator(mode="after")
    def _exchange(self) -> UpstreamConfig:
        if self.source == "tokenExchange" and self.token_exchange is None:
            raise ValueError("source tokenExchange needs tokenExchange (audience, scopes...)")
        if self.source != "tokenExchange" and self.token_exchange is not None:
            raise ValueError("tokenExchange is only read with source: tokenExchange")
        if self.source == "connected" and self.connected is None:
            raise ValueError("source connected needs connected (authorizeURL, tokenURL, clientID)")
        if self.source != "connected" and self.connected is not None:
            raise ValueError("connected is only read with source: connected")
        return self


def identity_clash(upstream: UpstreamConfig, identity_headers: tuple[str, ...]) -> str | None:
    """Why ``upstream.header`` cannot be used next to these identity headers, if it cannot:
    the gateway copies both from the same answer, so one would overwrite the other."""
    for name in identity_headers:
        if name.lower() == upstream.header.lower():
            return (
                f"is also the identity header {name} (proxy.identityHeaders): the credential "
                "would replace the identity the MCP server reads; name another header"
            )
    return None
