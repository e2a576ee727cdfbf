"""/token's form becomes one grant model, and every bad form a precise RFC 6749 §5.2 error."""

from __future__ import annotations

import pytest

from mcp_gatekeeper.config.grants import GrantsConfig
from mcp_gatekeeper.oauth.errors import InvalidRequest, OAuthError, UnsupportedGrantType
from mcp_gatekeeper.oauth.token_requests import (
    BASE_GRANT_TYPES,
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    enabled_grant_types,
    parse_token_request,
)

ENABLED = BASE_GRANT_TYPES


def test_each_grant_type_is_its_own_model_and_unknown_parameters_are_ignored() -> None:
    form = {"grant_type": "authorization_code", "code": "c", "code_verifier": "v", "x": "y"}
    code = parse_token_request(form, ENABLED)
    assert code == AuthorizationCodeGrant(
        grant_type="authorization_code", code="c", code_verifier="v"
    )
    form = {"grant_type": "refresh_token", "refresh_token": "r", "scope": "a b", "resource": "u"}
    refresh = parse_token_request(form, ENABLED)
    assert isinstance(refresh, RefreshTokenGrant)
    assert (refresh.scope, refresh.resource) == ("a b", "u")
    assert enabled_grant_types(GrantsConfig()) == {"authorization_code", "refresh_token"}


def test_a_grant_is_accepted_only_when_the_configuration_enables_it() -> None:
    form = {"grant_type": "client_credentials", "scope": "a"}
    with pytest.raises(UnsupportedGrantType):
        parse_token_request(form, ENABLED)
    grants = GrantsConfig.model_validate({"clientCredentials": {"enabled": True}})
    parsed = parse_token_request(form, enabled_grant_types(grants))
    assert parsed == ClientCredentialsGrant(grant_type="client_credentials", scope="a")


@pytest.mark.parametrize(
    ("form", "kind", "description"),
    [
        ({}, InvalidRequest, "grant_type is required"),
        ({"grant_type": ""}, InvalidRequest, "grant_type is required"),
        (
            {"grant_type": "password"},
            UnsupportedGrantType,
            "grant_type 'password' is not supported",
        ),
        ({"grant_type": "authorization_code"}, InvalidRequest, "code is required"),
        (
            {"grant_type": "authorization_code", "code": "c", "code_verifier": ""},
            InvalidRequest,
            "code_verifier is required",
        ),
        ({"grant_type": "refresh_token"}, InvalidRequest, "refresh_token is required"),
    ],
)
def test_a_bad_form_is_a_precise_oauth_error(
    form: dict[str, str], kind: type[OAuthError], description: str
) -> None:
    with pytest.raises(OAuthError) as raised:
        parse_token_request(form, ENABLED)
    assert type(raised.value) is kind
    assert raised.value.description == description
