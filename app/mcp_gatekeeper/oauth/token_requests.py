"""What ``/token`` accepts: one pydantic model per grant, in one union on ``grant_type``.

A grant is added by adding its model here and its handler in ``grants/``. Parameters a grant does
not define are ignored (RFC 6749 §3.2), each parameter appears at most once (the form reader
refuses repeats), and a bad request is a precise RFC 6749 §5.2 error, never a validation dump.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from ..config.grants import GrantsConfig
from .errors import InvalidRequest, OAuthError, UnsupportedGrantType

#: A parameter the grant needs: present and not empty.
Required = Annotated[str, StringConstraints(min_length=1)]


@dataclass(frozen=True)
class TokenCall:
    """What every grant needs to know about the /token request besides its form."""

    #: The authorization server the request was made to (host isolation).
    issuer: str
    #: RFC 9449: the thumbprint of the key a valid DPoP proof showed; the token is bound to it.
    dpop_jkt: str | None = None


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    #: RFC 8707: the MCP server the token is for (checked against what the grant was issued for).
    resource: str | None = None


class AuthorizationCodeGrant(GrantRequest):
    grant_type: Literal["authorization_code"]
    code: Required
    code_verifier: Required
    redirect_uri: str | None = None


class RefreshTokenGrant(GrantRequest):
    grant_type: Literal["refresh_token"]
    refresh_token: Required
    #: A refresh may narrow the granted scopes, never widen them.
    scope: str | None = None


DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a URN)
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)


class DeviceCodeGrant(GrantRequest):
    """RFC 8628 §3.4: polled by the device until the user approved or denied."""

    grant_type: Literal["urn:ietf:params:oauth:grant-type:device_code"]
    device_code: Required


class ClientCredentialsGrant(GrantRequest):
    """RFC 6749 §4.4: a confidential client acting for itself."""

    grant_type: Literal["client_credentials"]
    scope: str | None = None


class JwtBearerGrant(GrantRequest):
    """RFC 7523 §2.1: a workload's JWT from a trusted issuer, exchanged for an access token."""

    grant_type: Literal["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assertion: Required
    scope: str | None = None


class TokenExchangeGrant(GrantRequest):
    """RFC 8693 §2.1: an actor exchanging a user's access token for a narrower one."""

    grant_type: Literal["urn:ietf:params:oauth:grant-type:token-exchange"]
    subject_token: Required
    subject_token_type: Required
    actor_token: str | None = None
    actor_token_type: str | None = None
    requested_token_type: str | None = None
    audience: str | None = None
    scope: str | None = None


TokenRequest = Annotated[
    AuthorizationCodeGrant
    | RefreshTokenGrant
    | DeviceCodeGrant
    | ClientCredentialsGrant
    | JwtBearerGrant
    | TokenExchangeGrant,
    Field(discriminator="grant_type"),
]
_ADAPTER: TypeAdapter[TokenRequest] = TypeAdapter(TokenRequest)


#: Always on: the browser login and its refreshes.
BASE_GRANT_TYPES = frozenset({"authorization_code", "refresh_token"})


def enabled_grant_types(grants: GrantsConfig) -> frozenset[str]:
    """What this configuration accepts at /token (and advertises in its metadata)."""
    optional = {
        DEVICE_CODE: grants.device_code.enabled,
        "client_credentials": grants.client_credentials.enabled,
        # Enterprise IdPs' ID-JAGs come through the jwt-bearer grant too.
        JWT_BEARER: grants.jwt_bearer.enabled or grants.enterprise.enabled,
        TOKEN_EXCHANGE: grants.token_exchange.enabled,
    }
    return BASE_GRANT_TYPES | {name for name, enabled in optional.items() if enabled}


def grant_label(grant_type: str, enabled: frozenset[str]) -> str:
    """A short, bounded name for metrics: the last part of a URN, ``unsupported`` otherwise."""
    return grant_type.rsplit(":", 1)[-1] if grant_type in enabled else "unsupported"


def check_grant_type(form: Mapping[str, str], enabled: frozenset[str]) -> str:
    """The grant type, known before the client is authenticated (RFC 6749 §5.2 order)."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    if grant_type not in enabled:
        raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported")
    return grant_type


def parse_token_request(form: Mapping[str, str], enabled: frozenset[str]) -> TokenRequest:
    check_grant_type(form, enabled)
    try:
        return _ADAPTER.validate_python(dict(form))
    except ValidationError as exc:
        raise _refusal(exc.errors()[0]) from None


def _refusal(error: Any) -> OAuthError:
    field = ".".join(str(part) for part in error["loc"][1:]) or "the request"
    if error["type"] in {"missing", "string_too_short"}:
        return InvalidRequest(f"{field} is required")
    return InvalidRequest(f"{field}: {error['msg']}")
