"""``grants.enterprise`` as `check-config` sees it: https issuers (http only on loopback), public
keys, configured hosts, an algorithm allow-list, a positive lifetime; each problem names its field.
Enabling it turns on the jwt-bearer grant, through which ID-JAGs come."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_gatekeeper.oauth.token_requests import JWT_BEARER, enabled_grant_types
from tests.machine_clients import client_key, public_jwk
from tests.unit.test_config import load, problems_of

ISSUER = "grants.enterprise.issuers[0]"
KEY = public_jwk(client_key())


def config_text(*, enabled: bool = True, **issuer: Any) -> str:
    entry = {
        "issuer": "https://idp.acme.example",
        "hosts": ["mcp.example.com"],
        "subjectPrefix": "acme:",
    } | issuer
    entry = {name: value for name, value in entry.items() if value is not None}
    raw = {
        "proxy": {"hosts": [{"host": "mcp.example.com"}]},
        "grants": {"enterprise": {"enabled": enabled, "issuers": [entry]}},
    }
    return yaml.safe_dump(raw)


@pytest.mark.parametrize(
    ("issuer", "path", "fragment"),
    [
        ({"issuer": "http://idp.acme.example"}, f"{ISSUER}.issuer", "https"),
        ({"jwksURI": "http://keys.example.com/jwks"}, f"{ISSUER}.jwksURI", "https"),
        ({"jwks": {"keys": [KEY | {"d": "AQAB"}]}}, f"{ISSUER}.jwks", "private key material"),
        ({"hosts": ["other.example.com"]}, f"{ISSUER}.hosts", "proxy.hosts"),
        ({"hosts": []}, f"{ISSUER}.hosts", "at least 1"),
        ({"algorithms": ["HS256"]}, f"{ISSUER}.algorithms", "choose among"),
        ({"algorithms": ["none"]}, f"{ISSUER}.algorithms", "choose among"),
        ({"maxLifetime": "0s"}, f"{ISSUER}.maxLifetime", "longer than 0s"),
        ({"linkBy": "name"}, f"{ISSUER}.linkBy", "sub"),
    ],
    ids=[
        *("http-issuer", "http-jwks-uri", "private-jwk", "unknown-host", "no-hosts"),
        *("hmac", "alg-none", "zero-lifetime", "link-by-name"),
    ],
)
def test_a_bad_enterprise_issuer_is_a_problem_at_its_field(
    tmp_path: Path, issuer: dict[str, Any], path: str, fragment: str
) -> None:
    problems = problems_of(tmp_path, config_text(**issuer))
    named = [(p.path.replace(".0.", "[0]."), p.message) for p in problems]
    assert any(path in where and fragment in why for where, why in named), problems


def test_enabled_without_issuers_is_a_problem(tmp_path: Path) -> None:
    raw = {"proxy": {"hosts": [{"host": "mcp.example.com"}]}}
    text = yaml.safe_dump({**raw, "grants": {"enterprise": {"enabled": True}}})
    problems = problems_of(tmp_path, text)
    assert any("at least one enterprise IdP" in p.message for p in problems), problems


def test_defaults_are_short_lived_linked_by_sub_with_groups(tmp_path: Path) -> None:
    config = load(tmp_path, config_text(issuer="http://127.0.0.1:9000"))
    issuer = config.grants.enterprise.issuers[0]
    assert issuer.max_lifetime == timedelta(minutes=5)
    assert (issuer.link_by, issuer.groups_claim) == ("sub", "groups")
    assert issuer.algorithms == ["RS256", "ES256"] and issuer.jwks is None
    assert JWT_BEARER in enabled_grant_types(config.grants)
    assert not config.grants.jwt_bearer.enabled


def test_off_by_default_and_then_no_jwt_bearer(tmp_path: Path) -> None:
    config = load(tmp_path, config_text(enabled=False))
    assert JWT_BEARER not in enabled_grant_types(config.grants)
    bare = load(tmp_path, yaml.safe_dump({"proxy": {"hosts": [{"host": "mcp.example.com"}]}}))
    assert not bare.grants.enterprise.enabled
