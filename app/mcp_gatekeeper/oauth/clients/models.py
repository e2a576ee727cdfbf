"""Client metadata (RFC 7591 §2) as registered, and the client as we keep it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from ..token_requests import DEVICE_CODE

AuthMethod = Literal["none", "client_secret_basic", "client_secret_post"]
SUPPORTED_AUTH_METHODS: tuple[AuthMethod, ...] = (
    "none",
    "client_secret_basic",
    "client_secret_post",
)
GRANT_TYPES = ("authorization_code", "refresh_token")
#: RFC 8628: a client may register it only while ``grants.deviceCode`` is enabled.
DEVICE_GRANT_TYPES = (*GRANT_TYPES, DEVICE_CODE)
#: What a device-only client (a command line without a browser) registers: no redirect URIs.
DEVICE_ONLY_GRANT_TYPES = (frozenset({DEVICE_CODE}), frozenset({DEVICE_CODE, "refresh_token"}))


class ClientMetadata(BaseModel):
    """What a client says about itself, at /register or in a metadata document."""

    # Unknown members are ignored, as RFC 7591 §2 requires of servers.
    model_config = ConfigDict(extra="ignore")

    #: At least one for the authorization-code grant (``ClientRegistry.check_metadata``); a
    #: device-flow or machine client has none.
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    # RFC 7591 §2 default; MCP clients send "none".
    token_endpoint_auth_method: str = "client_secret_basic"  # noqa: S105
    grant_types: list[str] = Field(default_factory=lambda: ["authorization_code"])
    response_types: list[str] = Field(default_factory=lambda: ["code"])
    client_name: str | None = Field(None, max_length=200)
    client_uri: str | None = Field(None, max_length=2000)
    logo_uri: str | None = Field(None, max_length=2000)
    scope: str | None = Field(None, max_length=2000)
    contacts: list[str] | None = Field(None, max_length=10)
    tos_uri: str | None = Field(None, max_length=2000)
    policy_uri: str | None = Field(None, max_length=2000)
    software_id: str | None = Field(None, max_length=200)
    software_version: str | None = Field(None, max_length=200)
    application_type: Literal["web", "native"] | None = None
    #: RFC 9449 §5.2: the client always uses DPoP, so a token request without a proof is
    #: refused (only echoed when registered: omitted means false).
    dpop_bound_access_tokens: StrictBool | None = None

    @field_validator("client_name", "software_id", "software_version")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError("must not contain control characters")
        return value


class MachineBinding(BaseModel):
    """What a confidential machine client may get tokens for (``grants.clientCredentials``)."""

    hosts: tuple[str, ...]
    scopes: tuple[str, ...]


class RegisteredClient(BaseModel):
    """A client we know: registered here, or described by its metadata document."""

    client_id: str
    #: SHA-256 of the secret; the secret itself is shown once, at registration.
    client_secret_hash: str | None = None
    client_id_issued_at: int
    metadata: ClientMetadata
    #: True for a Client ID Metadata Document (``client_id`` is its https URL).
    from_metadata_document: bool = False
    #: Set for operator-made machine clients (client credentials), never for registered ones.
    machine: MachineBinding | None = None

    @property
    def auth_method(self) -> str:
        return self.metadata.token_endpoint_auth_method

    @property
    def display_name(self) -> str:
        return self.metadata.client_name or self.client_id

    def may_refresh(self) -> bool:
        return "refresh_token" in self.metadata.grant_types
