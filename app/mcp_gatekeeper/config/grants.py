"""The grants beyond the browser login (``grants:``), each off until an operator turns it on.

Machines get tokens for one MCP host each, with the same scopes, audit and revocation as a
browser login: the device flow for headless command lines (RFC 8628), client credentials for
operator-made confidential clients (RFC 6749 §4.4, the MCP ``oauth-client-credentials``
extension), workload identity for jobs that already hold a signed JWT (RFC 7523), and delegation
for agents acting for a user (RFC 8693). Enterprise-managed authorization lets an enterprise IdP
grant its users' MCP clients access with no browser step (ID-JAGs through the jwt-bearer grant).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from .common import Duration, RegexList, StrictModel, require_unique, settings_problem
from .jwks import https_url, public_jwks

#: What a trusted signer's key may sign with; never ``none`` and never HMAC (RFC 8725 §3.1).
ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
#: RFC 6749 §3.3 scope-token.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
#: An operator's secret: long enough that guessing it online is hopeless.
MIN_SECRET_LENGTH = 32
#: The longest-lived workload JWT an issuer may be configured to have accepted.
MAX_WORKLOAD_JWT_LIFETIME = timedelta(hours=24)


class DeviceCodeConfig(StrictModel):
    enabled: bool = False
    code_ttl: Duration = Field(
        timedelta(minutes=10),
        alias="codeTTL",
        description="How long a device code and its user code can be approved",
    )
    interval: Duration = Field(
        timedelta(seconds=5), description="The least time between two polls of one device code"
    )
    user_code_attempts_per_minute: float = Field(
        10.0,
        gt=0,
        le=1000,
        alias="userCodeAttemptsPerMinute",
        description="Wrong user codes one address may enter per minute (guessing)",
    )
    requests_per_minute_per_address: float = Field(
        10.0,
        gt=0,
        le=1000,
        alias="requestsPerMinutePerAddress",
        description="Device authorizations one client address may start per minute",
    )
    max_pending_per_client: int = Field(
        100,
        ge=1,
        le=10_000,
        alias="maxPendingPerClient",
        description="Device authorizations of one client that may wait for an answer at once",
    )

    @field_validator("code_ttl")
    @classmethod
    def _long_enough_to_type(cls, value: timedelta) -> timedelta:
        # A person reads the code off one screen and types it on another: a minute at least.
        if value < timedelta(seconds=60):
            raise ValueError("at least 60s (a person types the code on another device)")
        return value

    @field_validator("interval")
    @classmethod
    def _poll_interval(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(seconds=60):
            raise ValueError("between 1s and 60s")
        return value


class MachineClientConfig(StrictModel):
    """A confidential client from the configuration file (GitOps), bound to hosts and scopes."""

    client_id: str = Field(
        alias="clientID", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"
    )
    name: str | None = Field(None, max_length=200)
    #: ``client_secret_basic``; ``secretFile`` or the environment keep it out of the file.
    secret: SecretStr | None = None
    #: ``private_key_jwt`` (RFC 7523 §2.2): the client's public keys, by URL or inline.
    jwks_uri: str | None = Field(None, alias="jwksURI")
    jwks: dict[str, Any] | None = None
    hosts: list[str] = Field(min_length=1, description="The MCP hosts it may get tokens for")
    scopes: list[str] = Field(default_factory=list, description="The most it may be granted")

    @field_validator("client_id")
    @classmethod
    def _not_a_url(cls, value: str) -> str:
        if value.startswith("https://"):
            raise ValueError("https:// client ids name metadata-document clients; choose another")
        return value

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        # Shown in listings and audit lines, and held to the rules of a registered client's name.
        if value is not None and any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"at least {MIN_SECRET_LENGTH} characters (e.g. openssl rand -base64 32)"
            )
        return value

    @field_validator("jwks_uri")
    @classmethod
    def _jwks_uri(cls, value: str | None) -> str | None:
        return None if value is None else https_url(value)

    @field_validator("jwks")
    @classmethod
    def _jwks(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else public_jwks(value)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        for scope in value:
            if not SCOPE_TOKEN.fullmatch(scope):
                raise ValueError(
                    f"{scope!r}: a scope is printable ASCII without spaces, quotes or backslashes"
                )
            if scope == "offline_access":
                raise ValueError("offline_access: machine clients get no refresh tokens")
        return value

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> MachineClientConfig:
        ways = (("secret", self.secret), ("jwksURI", self.jwks_uri), ("jwks", self.jwks))
        given = [name for name, value in ways if value is not None]
        if len(given) != 1:
            raise settings_problem(
                ["secret", "jwksURI", "jwks"], "set exactly one way to authenticate", together=True
            )
        return self


class ClientCredentialsConfig(StrictModel):
    enabled: bool = False
    clients: list[MachineClientConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> ClientCredentialsConfig:
        require_unique("machine client ids must be unique", [c.client_id for c in self.clients])
        return self


class ClaimRule(StrictModel):
    """Which workloads get what: every listed claim must match one of its patterns."""

    #: Claim name (dotted for nested claims) to full-match regular expressions, any one of which
    #: suffices; every claim listed must match.
    claims: dict[str, RegexList] = Field(min_length=1)
    hosts: list[str] = Field(min_length=1)
    scopes: list[str] = Field(default_factory=list)

    @field_validator("claims")
    @classmethod
    def _claim_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, patterns in value.items():
            if not name or "" in name.split("."):
                raise ValueError(f"{name!r} is not a claim name (dotted for nested claims)")
            if not patterns:
                raise ValueError(f"{name}: give at least one pattern")
        return value


class SignerConfig(StrictModel):
    """A trusted signer of JWTs (an issuer of workload JWTs, an enterprise IdP): who it is, where
    its public keys are, what it signs with and how long what it signs may live."""

    issuer: str = Field(min_length=1)
    #: Default: the ``jwks_uri`` of the issuer's OpenID discovery document.
    jwks_uri: str | None = Field(None, alias="jwksURI")
    #: Inline keys, for issuers whose keys are not served (a cluster's service-account keys).
    jwks: dict[str, Any] | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    #: Each kind of signer gives its own default: what it signs is meant to live that long.
    max_lifetime: Duration = Field(alias="maxLifetime")
    #: Put before the signed ``sub`` to make the token's subject (``prod:`` gives
    #: ``prod:system:serviceaccount:batch:report``): two signers' subjects of one name are then
    #: two users at the MCP server.
    subject_prefix: str = Field("", alias="subjectPrefix", max_length=64, pattern=r"^[\x21-\x7e]*$")

    _urls = field_validator("issuer", "jwks_uri")(
        lambda value: None if value is None else https_url(value)
    )
    _public_keys = field_validator("jwks")(
        lambda value: None if value is None else public_jwks(value)
    )

    @field_validator("max_lifetime")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value

    @model_validator(mode="after")
    def _algorithms(self) -> SignerConfig:
        unknown = [alg for alg in self.algorithms if alg not in ASSERTION_ALGORITHMS]
        if unknown or not self.algorithms:
            raise settings_problem(
                ["algorithms"], f"choose among {', '.join(ASSERTION_ALGORITHMS)}"
            )
        if self.jwks_uri is not None and self.jwks is not None:
            raise settings_problem(["jwksURI", "jwks"], "set at most one", together=True)
        return self


class WorkloadIssuerConfig(SignerConfig):
    """A trusted issuer of workload JWTs (Kubernetes, SPIFFE, a CI provider's OIDC tokens)."""

    audience: str = Field(min_length=1, description="The aud the JWTs must carry")
    max_lifetime: Duration = Field(
        timedelta(hours=24),
        alias="maxLifetime",
        description="Longer-lived JWTs (exp - iat) are refused",
    )
    single_use: bool = Field(
        True,
        alias="singleUse",
        description="Each JWT (iss, jti) is exchanged once; turn off for workloads that reuse "
        "one token until it expires (a long-running pod's projected service-account token)",
    )
    rules: list[ClaimRule] = Field(min_length=1)

    @field_validator("max_lifetime")
    @classmethod
    def _at_most_a_day(cls, value: timedelta) -> timedelta:
        # A workload JWT is a bearer credential: one that lives longer is a stored password.
        if value > MAX_WORKLOAD_JWT_LIFETIME:
            raise ValueError("at most 24h")
        return value


class JwtBearerConfig(StrictModel):
    enabled: bool = False
    issuers: list[WorkloadIssuerConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> JwtBearerConfig:
        require_unique("workload issuers must be unique", [i.issuer for i in self.issuers])
        # Otherwise one name in two issuers (two clusters' batch:report) is one user.
        require_unique(
            "workload issuers need distinct subjectPrefix values (e.g. prod: and staging:)",
            [i.subject_prefix for i in self.issuers],
        )
        if self.enabled and not self.issuers:
            raise settings_problem(["issuers"], "enable it with at least one issuer")
        return self


class TokenExchangeConfig(StrictModel):
    enabled: bool = False
    #: The confidential clients allowed to act for users: machine client ids, or the ids of
    #: registered confidential clients.
    actors: list[str] = Field(default_factory=list)
    max_delegation_depth: int = Field(
        3, ge=1, le=10, alias="maxDelegationDepth", description="Actors in one nested act chain"
    )

    @field_validator("actors")
    @classmethod
    def _client_ids(cls, value: list[str]) -> list[str]:
        for actor in value:
            if not actor or not actor.isprintable() or any(c.isspace() for c in actor):
                raise ValueError(f"{actor!r}: a client id, non-empty and without whitespace")
        return value


class EnterpriseIssuerConfig(SignerConfig):
    """An enterprise IdP whose ID-JAGs (Identity Assertion JWT Authorization Grants) we honour."""

    hosts: list[str] = Field(min_length=1, description="The MCP hosts this IdP may grant")
    max_lifetime: Duration = Field(
        timedelta(minutes=5),
        alias="maxLifetime",
        description="Longer-lived ID-JAGs (exp - iat) are refused: they are meant to be short",
    )
    link_by: Literal["sub", "email"] = Field(
        "sub",
        alias="linkBy",
        description="Which claim names our user: the IdP's sub, or its (verified) email",
    )
    groups_claim: str | None = Field(
        "groups", alias="groupsClaim", min_length=1, description="Where the user's groups are"
    )


class EnterpriseConfig(StrictModel):
    """Enterprise-managed authorization (the MCP extension; draft-ietf-oauth-identity-assertion-
    authz-grant): ID-JAGs of these IdPs, presented with the jwt-bearer grant."""

    enabled: bool = False
    issuers: list[EnterpriseIssuerConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _issuers(self) -> EnterpriseConfig:
        require_unique("enterprise issuers must be unique", [i.issuer for i in self.issuers])
        if self.enabled and not self.issuers:
            raise settings_problem(["issuers"], "name at least one enterprise IdP when enabled")
        return self


class GrantsConfig(StrictModel):
    device_code: DeviceCodeConfig = Field(default_factory=DeviceCodeConfig, alias="deviceCode")
    client_credentials: ClientCredentialsConfig = Field(
        default_factory=ClientCredentialsConfig, alias="clientCredentials"
    )
    jwt_bearer: JwtBearerConfig = Field(default_factory=JwtBearerConfig, alias="jwtBearer")
    token_exchange: TokenExchangeConfig = Field(
        default_factory=TokenExchangeConfig, alias="tokenExchange"
    )
    enterprise: EnterpriseConfig = Field(default_factory=EnterpriseConfig)
