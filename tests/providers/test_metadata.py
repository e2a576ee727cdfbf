"""Discovery parsing and claim helpers: the rules that make one class fit many IdPs."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote_plus

import pytest

from mcp_gatekeeper.pkce import s256 as pkce_challenge
from mcp_gatekeeper.providers import ProviderError
from mcp_gatekeeper.providers.oidc import claim_groups, email_is_verified
from mcp_gatekeeper.providers.oidc_metadata import OidcMetadata
from mcp_gatekeeper.providers.upstream_http import basic_auth
from mcp_gatekeeper.urls import add_query as with_query


def discovery(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        **extra,
    }


def test_trailing_slash_issuers_match_the_stripped_configuration() -> None:
    """Auth0 and authentik issuers end in '/', which the config loader strips: still equal."""
    parsed = OidcMetadata.parse(discovery("https://t.auth0.com/"), "https://t.auth0.com")
    assert parsed.issuer == "https://t.auth0.com/"  # ID tokens are checked against this exactly


@pytest.mark.parametrize(
    "issuer",
    ["https://t.auth0.com/x", "http://t.auth0.com", "https://T.auth0.com", None],
)
def test_any_other_issuer_difference_is_refused(issuer: str | None) -> None:
    """OIDC Discovery §4.3: path, scheme or case differences are a mismatch."""
    with pytest.raises(ProviderError, match="names issuer"):
        OidcMetadata.parse({**discovery("x"), "issuer": issuer}, "https://t.auth0.com")


def test_defaults_when_the_idp_says_little() -> None:
    """No algs listed means RS256; no auth methods listed means client_secret_basic."""
    parsed = OidcMetadata.parse(discovery("https://idp.test"), "https://idp.test")
    assert parsed.signing_algs == {"RS256"} and parsed.token_auth_methods is None
    assert parsed.userinfo_endpoint is None and not parsed.iss_parameter_supported


def test_symmetric_only_idp_is_refused() -> None:
    """An IdP that signs ID tokens only with HS256 or none cannot be used."""
    body = discovery("https://idp.test", id_token_signing_alg_values_supported=["HS256", "none"])
    with pytest.raises(ProviderError, match="asymmetric"):
        OidcMetadata.parse(body, "https://idp.test")


def test_symmetric_algs_are_dropped_from_a_mixed_list() -> None:
    """Keycloak lists HS*; only the asymmetric algorithms are kept."""
    algs = ["RS256", "HS256", "ES256", "none"]
    body = discovery("https://kc.test", id_token_signing_alg_values_supported=algs)
    assert OidcMetadata.parse(body, "https://kc.test").signing_algs == {"RS256", "ES256"}


def test_missing_endpoint_is_refused() -> None:
    """Discovery without a token endpoint cannot be used."""
    body = discovery("https://idp.test")
    del body["token_endpoint"]
    with pytest.raises(ProviderError, match="token_endpoint"):
        OidcMetadata.parse(body, "https://idp.test")


@pytest.mark.parametrize(
    ("value", "groups"),
    [
        (["a", "b"], ("a", "b")),
        ("a b,c, d", ("a", "b", "c", "d")),
        (["/org/team", 7, None, ""], ("/org/team",)),
        (None, ()),
        ({"not": "groups"}, ()),
    ],
)
def test_claim_groups(value: object, groups: tuple[str, ...]) -> None:
    """Lists of strings, or space/comma separated strings; anything else is no groups."""
    assert claim_groups(value) == groups


@pytest.mark.parametrize(
    ("claims", "verified"),
    [
        ({"email_verified": True}, True),
        ({"email_verified": "true"}, True),
        ({"email_verified": False}, False),
        ({"email_verified": "false"}, False),
        ({}, False),
        ({"xms_edov": True}, True),
        ({"email_verified": False, "xms_edov": True}, False),
    ],
)
def test_email_is_verified(claims: dict[str, object], verified: bool) -> None:
    """email_verified (bool or Cognito's string); Entra's xms_edov only when it is absent."""
    assert email_is_verified(claims) is verified


def test_basic_auth_form_encodes_before_base64() -> None:
    """RFC 6749 §2.3.1: a secret with + / = : survives the Basic header."""
    header = basic_auth("my client", "a+b/c=d:e")
    client_id, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    assert (unquote_plus(client_id), unquote_plus(secret)) == ("my client", "a+b/c=d:e")


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    """The S256 challenge of the RFC's example verifier."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_with_query_keeps_an_existing_query() -> None:
    """Okta/Entra-style endpoints that already carry a query keep it."""
    url = with_query("https://idp.test/auth?p=policy", {"state": "a b"})
    assert url == "https://idp.test/auth?p=policy&state=a+b"
