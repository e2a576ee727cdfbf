"""The configuration file's schema: the public interface of mcp-gatekeeper.

Keys are camelCase. The names under ``provider`` and ``proxy`` that users of the Go
mcp-oauth2-proxy chart already write (``provider.clientID``, ``proxy.hosts[].host``, ...) are kept
as they are. Every model forbids unknown keys, so a typo is a reported problem, not a silent no-op.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..net import is_loopback_hostname, split_host
from .common import (
    AccessPolicy,
    Duration,
    RegexList,
    StrictModel,
    require_unique,
    settings_problem,
)
from .grants import GrantsConfig
from .host_rules import RuleConfig
from .provider import ProviderConfig
from .rate_limits import RateLimitsConfig
from .store import StoreConfig
from .tracing import TracingConfig
from .upstream import UpstreamConfig, identity_clash

#: 64 KiB holds what any gateway forwards, large JWTs and cookies included; the bounds keep
#: real requests working and a single request from buffering megabytes.
DEFAULT_MAX_HEADER_BYTES = 65_536
MIN_MAX_HEADER_BYTES = 8_192
MAX_MAX_HEADER_BYTES = 1_048_576
_SCOPE_NAME_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token


def _validate_host(value: str) -> str:
    if value != value.lower():
        raise ValueError(f"must be lower-case, e.g. {value.lower()!r}")
    name, port = split_host(value)
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    default_port = 80 if is_loopback_hostname(name) else 443
    if port == default_port:
        raise ValueError(f"leave out the default port: write {name!r}")
    return value


class ScopeConfig(StrictModel):
    """One scope an MCP server offers, with the tools it covers (``_meta.scopes`` format)."""

    name: str
    description: str = ""
    tools: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _scope_token(cls, value: str) -> str:
        if not _SCOPE_NAME_RE.fullmatch(value):
            raise ValueError(
                "a scope name is printable ASCII without spaces, quotes or backslashes"
            )
        if value == "offline_access":
            raise ValueError("offline_access is granted by the authorization server, not a host")
        return value


class HostConfig(AccessPolicy):
    """One MCP server behind the gateway, told apart from the others by its host."""

    host: Annotated[str, AfterValidator(_validate_host)] = Field(
        description="Host as clients send it: lower-case, with the port unless it is the default"
    )
    path: str = Field("/mcp", description="The MCP endpoint's path on that host")
    endpoint: str | None = Field(
        None, description="Internal URL of the MCP server (used for scope discovery)"
    )
    scopes: list[ScopeConfig] = Field(default_factory=list)
    base_scopes: list[str] | None = Field(
        None,
        alias="baseScopes",
        description="Scopes offered up front (scopes_supported, 401 challenges); default: all",
    )
    dpop: Literal["off", "allowed", "required"] = Field(
        "off",
        description="RFC 9449 sender-constrained tokens for this host: off (tokens are never "
        "bound), allowed (bound when the client sends a DPoP proof), required (every token "
        "must be bound). The gateway must forward the DPoP header and the original URL",
    )
    rate_limits: RateLimitsConfig | None = Field(
        None,
        alias="rateLimits",
        description="Requests and tool calls per user and per client, shared by the replicas",
    )
    tool_policy: Literal["enforce", "strict", "upstream"] = Field(
        "enforce",
        alias="toolPolicy",
        description=(
            "enforce: a request whose tool cannot be identified needs a token allowing every "
            "tool; strict: such a POST is refused; upstream: it is let through for the MCP "
            "server to check X-Auth-Request-Scopes itself"
        ),
    )
    rules: list[RuleConfig] = Field(
        default_factory=list,
        description="CEL rules on the token's claims and the MCP call (deny overrides allow; "
        "with allow rules, a call none allows is refused)",
    )
    upstream: UpstreamConfig | None = Field(
        None,
        description="The signed-in user's credential for the API this MCP server calls, handed "
        "to the gateway in a header of the 200 answer (config/upstream.py)",
    )

    @field_validator("base_scopes")
    @classmethod
    def _base_scopes(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and "offline_access" in value:
            raise ValueError("offline_access is never offered by a resource (MCP 2026-07-28)")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in "?#% \t"):
            raise ValueError("must be an absolute path without query, fragment or spaces")
        if len(value) > 1 and value.endswith("/"):
            raise ValueError("must not end with '/' (the canonical resource has no trailing slash)")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/?#\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("scopes")
    @classmethod
    def _unique_scopes(cls, value: list[ScopeConfig]) -> list[ScopeConfig]:
        require_unique("scope names must be unique", [scope.name for scope in value])
        return value


class IdentityHeaders(StrictModel):
    """Names of the headers that carry the identity to the MCP server on success."""

    user: str = "X-Auth-Request-User"
    email: str = "X-Auth-Request-Email"
    groups: str = "X-Auth-Request-Groups"
    scopes: str = "X-Auth-Request-Scopes"
    #: Who acts for the user (an agent, through token exchange); empty when nobody does.
    actor: str = "X-Auth-Request-Actor"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.user, self.email, self.groups, self.scopes, self.actor)

    @model_validator(mode="after")
    def _token_names(self) -> IdentityHeaders:
        names = self.names
        for name in names:
            if not re.match(r"^[A-Za-z0-9-]+$", name):
                raise ValueError(f"{name!r} is not a header name (letters, digits and '-')")
        if len({name.lower() for name in names}) != len(names):
            raise ValueError("the identity header names must differ")
        return self


TrustedHostHeaders = Literal["host", "x-forwarded", "x-original-url", "query"]


class ProxyConfig(StrictModel):
    hosts: list[HostConfig] = Field(min_length=1)
    issuer: str | None = Field(
        None, description="One central issuer for every host; by default each host is its own"
    )
    trusted_host_headers: TrustedHostHeaders = Field("host", alias="trustedHostHeaders")
    identity_headers: IdentityHeaders = Field(
        default_factory=IdentityHeaders, alias="identityHeaders"
    )
    reject_client_identity_headers: bool = Field(True, alias="rejectClientIdentityHeaders")
    disable_consent_screen: bool = Field(False, alias="disableConsentScreen")
    allowed_redirect_urls: RegexList = Field(default_factory=list, alias="allowedRedirectURLs")

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = re.match(r"^(https?)://([^/?#]+)$", value)
        if match is None:
            raise ValueError(
                "must be an origin like https://auth.example.com (no path, query or trailing '/')"
            )
        scheme, host = match.groups()
        _validate_host(host)
        if scheme == "http" and not is_loopback_hostname(split_host(host)[0]):
            raise ValueError("http is allowed only for loopback hosts; use https")
        return value

    @field_validator("hosts")
    @classmethod
    def _unique_hosts(cls, value: list[HostConfig]) -> list[HostConfig]:
        require_unique("each host may appear once", [entry.host for entry in value])
        return value

    @model_validator(mode="after")
    def _upstream_headers_are_their_own(self) -> ProxyConfig:
        for index, entry in enumerate(self.hosts):
            upstream = entry.upstream
            clash = (
                None if upstream is None else identity_clash(upstream, self.identity_headers.names)
            )
            if clash is not None:
                raise settings_problem([f"hosts[{index}].upstream.header"], clash)
        return self

    @model_validator(mode="after")
    def _query_names_hostnames(self) -> ProxyConfig:
        # ``?host=$host&end=1`` carries nginx's $host, which has no port: hosts must differ without.
        if self.trusted_host_headers == "query":
            require_unique(
                "with trustedHostHeaders: query, hosts must differ in more than their port",
                [split_host(entry.host)[0] for entry in self.hosts],
            )
        return self


#: setting: (lowest, highest, what is wrong otherwise); ``None``: no bound on that side.
_TOKEN_DURATION_LIMITS: dict[str, tuple[timedelta | None, timedelta | None, str]] = {
    "access_token_ttl": (timedelta(seconds=10), None, "must be at least 10s"),
    "key_rotation_interval": (timedelta(minutes=1), None, "must be at least 1m"),
    "clock_skew": (None, timedelta(minutes=5), "above 5m weakens expiry; fix the clocks instead"),
    "authorization_code_ttl": (
        timedelta(seconds=10),
        timedelta(minutes=10),
        "must be between 10s and 10m (OAuth 2.1: short)",
    ),
    "login_timeout": (timedelta(minutes=1), None, "under 1m leaves no time for MFA"),
}


class TokensConfig(StrictModel):
    access_token_ttl: Duration = Field(timedelta(hours=1), alias="accessTokenTTL")
    key_rotation_interval: Duration = Field(timedelta(hours=1), alias="keyRotationInterval")
    clock_skew: Duration = Field(timedelta(seconds=30), alias="clockSkew")
    verify_cache_size: int = Field(100_000, ge=0, alias="verifyCacheSize")
    refresh_token_ttl: Duration = Field(
        timedelta(days=30), alias="refreshTokenTTL", description="Unused refresh tokens expire"
    )
    max_session_age: Duration = Field(
        timedelta(days=30), alias="maxSessionAge", description="A login's refreshes end then"
    )
    recheck_interval: Duration = Field(
        timedelta(minutes=15),
        alias="recheckInterval",
        description="How often a refresh asks the identity provider about the user again",
    )
    recheck_outage_grace: Duration = Field(
        timedelta(hours=24),
        alias="recheckOutageGrace",
        description=(
            "While the identity provider cannot be reached, refreshes go on until this long after "
            "the user's last successful check, then wait for it (0s: never without a check)"
        ),
    )
    authorization_code_ttl: Duration = Field(timedelta(seconds=60), alias="authorizationCodeTTL")
    login_timeout: Duration = Field(
        timedelta(minutes=10), alias="loginTimeout", description="Time to log in at the IdP (MFA)"
    )
    refreshes_per_minute: float = Field(
        10,
        ge=1,  # a bucket that never holds one whole refresh would refuse them all
        alias="refreshesPerMinute",
        description="Refreshes of one login per minute (and burst), per process",
    )
    dpop_proof_max_age: Duration = Field(
        timedelta(seconds=60),
        alias="dpopProofMaxAge",
        description="How old (iat) a DPoP proof may be; clockSkew is added either way",
    )
    dpop_nonces: bool = Field(
        False,
        alias="dpopNonces",
        description="Require server-provided nonces in DPoP proofs (RFC 9449 §8, §9)",
    )

    # A field validator (not a model one), so that each wrong setting is reported on its own
    # path, all in the same run.
    @field_validator(*_TOKEN_DURATION_LIMITS)
    @classmethod
    def _within_limits(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        low, high, problem = _TOKEN_DURATION_LIMITS[str(info.field_name)]
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(problem)
        return value


class MetadataDocumentsConfig(StrictModel):
    """Client ID Metadata Documents: ``client_id`` is an https URL the service fetches."""

    enabled: bool = True
    allow_private_addresses: bool = Field(
        False,
        alias="allowPrivateAddresses",
        description="Allow fetching from loopback/private networks (SSRF risk; tests only)",
    )
    timeout: Duration = Field(timedelta(seconds=5))
    max_bytes: int = Field(5120, ge=512, le=1_048_576, alias="maxBytes")
    ca_file: str | None = Field(None, alias="caFile", description="Extra CA bundle (PEM)")


class ClientsConfig(StrictModel):
    """Dynamic client registration (RFC 7591) and client metadata documents."""

    registration_enabled: bool = Field(True, alias="registrationEnabled")
    registrations_per_minute: float = Field(30.0, gt=0, alias="registrationsPerMinute")
    registrations_per_minute_per_address: float = Field(
        10.0,
        gt=0,
        alias="registrationsPerMinutePerAddress",
        description="Per client address (the last X-Forwarded-For entry the gateway appends)",
    )
    client_ttl: Duration = Field(
        timedelta(days=90), alias="clientTTL", description="Unused clients are forgotten"
    )
    metadata_documents: MetadataDocumentsConfig = Field(
        default_factory=lambda: MetadataDocumentsConfig.model_validate({}),
        alias="metadataDocuments",
    )


class ServerConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, lt=65536)
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", alias="logLevel")
    deny_log_rate: float = Field(
        10.0, gt=0, alias="denyLogRate", description="Deny audit events per second, at most"
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="uvicorn worker processes (more than one needs a sqlite or Redis store)",
    )
    max_header_bytes: int = Field(
        DEFAULT_MAX_HEADER_BYTES,
        alias="maxHeaderBytes",
        description="Request line and headers together, in bytes; larger requests get 431",
    )
    admin_token: SecretStr | None = Field(
        None,
        alias="adminToken",
        description="Enables the admin API (loopback only) used by `mcp-gatekeeper admin`",
    )

    @field_validator("max_header_bytes")
    @classmethod
    def _header_cap(cls, value: int) -> int:
        if not MIN_MAX_HEADER_BYTES <= value <= MAX_MAX_HEADER_BYTES:
            raise ValueError(
                f"must be between {MIN_MAX_HEADER_BYTES} (8 KiB: a browser's cookies and a "
                f"gateway's forwarded headers) and {MAX_MAX_HEADER_BYTES} (1 MiB) bytes, "
                f"e.g. {DEFAULT_MAX_HEADER_BYTES} (64 KiB)"
            )
        return value

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError("must be at least 24 characters (use a random value)")
        return value


class Config(StrictModel):
    """The whole configuration file."""

    provider: ProviderConfig = Field(
        default_factory=lambda: ProviderConfig.model_validate({"name": "demo"})
    )
    proxy: ProxyConfig
    tokens: TokensConfig = Field(default_factory=TokensConfig)
    clients: ClientsConfig = Field(default_factory=lambda: ClientsConfig.model_validate({}))
    server: ServerConfig = Field(default_factory=ServerConfig)
    store: StoreConfig = Field(default_factory=lambda: StoreConfig.model_validate({}))
    grants: GrantsConfig = Field(default_factory=GrantsConfig)
    tracing: TracingConfig = Field(default_factory=lambda: TracingConfig.model_validate({}))

    @model_validator(mode="after")
    def _grants_name_configured_hosts(self) -> Config:
        known = {host.host for host in self.proxy.hosts}
        grants = self.grants
        named = [
            (f"grants.clientCredentials.clients.{i}.hosts", client.hosts)
            for i, client in enumerate(grants.client_credentials.clients)
        ] + [
            (f"grants.jwtBearer.issuers.{i}.rules.{j}.hosts", rule.hosts)
            for i, issuer in enumerate(grants.jwt_bearer.issuers)
            for j, rule in enumerate(issuer.rules)
        ]
        named += [
            (f"grants.enterprise.issuers.{i}.hosts", enterprise.hosts)
            for i, enterprise in enumerate(grants.enterprise.issuers)
        ]
        for path, hosts in named:
            unknown = [host for host in hosts if host not in known]
            if unknown:
                raise settings_problem(
                    [path], f"not a configured proxy.hosts[].host: {', '.join(unknown)}"
                )
        return self

    @model_validator(mode="after")
    def _signers_name_distinct_users(self) -> Config:
        """A signed ``sub`` becomes a user: two signers (or a signer and the login's identity
        provider) must not be able to name the same one."""
        signers = [*self.grants.jwt_bearer.issuers, *self.grants.enterprise.issuers]
        require_unique(
            "workload and enterprise issuers need distinct subjectPrefix values",
            [signer.subject_prefix for signer in signers],
        )
        login_issuer = (self.provider.issuer_url or "").rstrip("/")
        for index, idp in enumerate(self.grants.enterprise.issuers):
            if not idp.subject_prefix and idp.issuer.rstrip("/") != login_issuer:
                raise settings_problem(
                    [f"grants.enterprise.issuers[{index}].subjectPrefix"],
                    "set a prefix (e.g. partner:): without one, this IdP's users would be "
                    "indistinguishable from the login provider's users of the same name; only "
                    "the IdP that is also provider.issuerURL may keep the empty prefix",
                )
        return self

    @model_validator(mode="after")
    def _workers_share_state(self) -> Config:
        if self.server.workers > 1 and not self.store.shared:
            raise settings_problem(
                ["server.workers", "store.url"],
                "several workers would each keep their own logins and keys in memory; use a "
                "sqlite:// or redis:// store, or one worker",
                together=True,
            )
        return self

    @model_validator(mode="after")
    def _demo_only_on_loopback(self) -> Config:
        if self.provider.name == "demo" and not is_loopback_hostname(self.server.host):
            raise settings_problem(
                ["provider.name", "server.host"],
                "the demo login (used when no provider is configured) signs anyone in as "
                "demo@example.com, so it runs only when server.host is a loopback address; "
                "configure a real provider",
                together=True,
            )
        return self
