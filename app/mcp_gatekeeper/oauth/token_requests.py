"""What ``/token`` accepts: one pydantic model per grant, in one union on ``grant_type``.

A grant is added by adding its model here and its handler in ``grants/``. Parameters a grant does
not define are ignored (RFC 6749 §3.2), each parameter appears at most once (the form reader
refuses repeats), and a bad request is a precise RFC 6749 §5.2 error, never a validation dump.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from .errors import InvalidRequest, OAuthError, UnsupportedGrantType

#: A parameter the grant needs: present and not empty.
Required = Annotated[str, StringConstraints(min_length=1)]


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


TokenRequest = Annotated[
    AuthorizationCodeGrant | RefreshTokenGrant, Field(discriminator="grant_type")
]
_ADAPTER: TypeAdapter[TokenRequest] = TypeAdapter(TokenRequest)
GRANT_TYPES = frozenset(
    get_args(model.model_fields["grant_type"].annotation)[0]
    for model in get_args(get_args(TokenRequest)[0])
)


def check_grant_type(form: Mapping[str, str]) -> str:
    """The grant type, known before the client is authenticated (RFC 6749 §5.2 order)."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    if grant_type not in GRANT_TYPES:
        raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported")
    return grant_type


def parse_token_request(form: Mapping[str, str]) -> TokenRequest:
    check_grant_type(form)
    try:
        return _ADAPTER.validate_python(dict(form))
    except ValidationError as exc:
        raise _refusal(exc.errors()[0]) from None


def _refusal(error: Any) -> OAuthError:
    field = ".".join(str(part) for part in error["loc"][1:]) or "the request"
    if error["type"] in {"missing", "string_too_short"}:
        return InvalidRequest(f"{field} is required")
    return InvalidRequest(f"{field}: {error['msg']}")
