"""Workload rules as an operator writes them: claim names, value matching, configuration checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_gatekeeper.config import ConfigError, load_config
from mcp_gatekeeper.oauth.workloads import claim_value, matches
from tests.flows.workload_signer import ServiceAccountSigner

SA_CLAIMS = {
    "sub": "system:serviceaccount:batch:report-cron",
    "kubernetes.io": {"namespace": "batch", "serviceaccount": {"name": "report-cron"}},
    "a": {"b": "nested"},
    "a.b": "flat",
    "run_attempt": 2,
    "ephemeral": False,
    "groups": ["ci", "deploy"],
}


@pytest.mark.parametrize(
    ("name", "patterns", "expected"),
    [
        ("kubernetes.io.namespace", ["batch"], True),
        ("kubernetes.io.serviceaccount.name", ["report-.*"], True),
        ("kubernetes.io.serviceaccount.name", ["report"], False),  # full match, not search
        ("a.b", ["flat"], True),  # the longest key that exists wins
        ("a.b", ["nested"], False),
        ("run_attempt", ["2"], True),  # numbers as JSON writes them
        ("ephemeral", ["false"], True),
        ("ephemeral", ["False"], False),
        ("groups", ["deploy"], True),  # any element of a list
        ("kubernetes.io", [".*"], False),  # an object never matches
        ("kubernetes.io.pod.name", [".*"], False),  # absent
        ("sub.x", [".*"], False),  # below a string
    ],
)
def test_claims_resolve_and_match(name: str, patterns: list[str], expected: bool) -> None:
    assert matches(claim_value(SA_CLAIMS, name), patterns) is expected


def issuer(**changes: Any) -> dict[str, Any]:
    base = {
        "issuer": "https://kubernetes.default.svc.cluster.local",
        "audience": "mcp-gatekeeper",
        "jwks": ServiceAccountSigner().jwks(),
        "rules": [
            {"claims": {"sub": ["system:serviceaccount:batch:.*"]}, "hosts": ["mcp.example.com"]}
        ],
    }
    return {**base, **changes}


def problems(tmp_path: Path, *issuers: dict[str, Any]) -> list[str]:
    settings = {
        "proxy": {"hosts": [{"host": "mcp.example.com"}]},
        "grants": {"jwtBearer": {"enabled": True, "issuers": list(issuers)}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(settings))
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    return [str(problem) for problem in caught.value.problems]


def test_a_valid_issuer_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "proxy": {"hosts": [{"host": "mcp.example.com"}]},
                "grants": {"jwtBearer": {"enabled": True, "issuers": [issuer()]}},
            }
        )
    )
    assert load_config(path, {}).grants.jwt_bearer.issuers[0].audience == "mcp-gatekeeper"


def test_check_config_names_each_problem_of_an_issuer(tmp_path: Path) -> None:
    private = ServiceAccountSigner().jwks()["keys"][0] | {"d": "private-exponent"}
    found = problems(
        tmp_path,
        issuer(issuer="http://ci.example.com", jwks=None, jwksURI="http://ci.example.com/keys"),
        issuer(issuer="https://k8s.example.com", jwks={"keys": [private]}),
        issuer(issuer="https://hmac.example.com", jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        issuer(issuer="https://bad.example.com", maxLifetime="0s", algorithms=["HS256"]),
        issuer(
            issuer="https://rules.example.com",
            rules=[{"claims": {"repository": ["acme/("]}, "hosts": ["mcp.example.com"]}],
        ),
    )
    https = "must be an https:// URL (http:// only on loopback), no query or fragment"
    assert f"grants.jwtBearer.issuers[0].issuer: {https}" in found
    assert f"grants.jwtBearer.issuers[0].jwksURI: {https}" in found
    assert (
        "grants.jwtBearer.issuers[1].jwks: keys[0] holds private key material (d): "
        "give the public key only"
    ) in found
    assert (
        "grants.jwtBearer.issuers[2].jwks: keys[0] holds private key material (k): "
        "give the public key only"
    ) in found
    assert "grants.jwtBearer.issuers[3].maxLifetime: must be longer than 0s" in found
    assert any(
        p.startswith(
            "grants.jwtBearer.issuers[4].rules[0].claims.repository[0]: invalid regular expression"
        )
        for p in found
    ), found


def test_an_unknown_host_and_a_loopback_issuer(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        issuer(
            issuer="http://127.0.0.1:8080",
            jwks=None,
            rules=[{"claims": {"sub": [".*"]}, "hosts": ["elsewhere.example.com"]}],
        ),
    )
    # http on loopback is fine (a test issuer); the host is not configured.
    assert len(found) == 1 and "elsewhere.example.com" in found[0], found
