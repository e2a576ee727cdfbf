"""``grants.clientCredentials.clients`` as `check-config` sees it: public keys only, key URLs over
https, configured hosts, scope tokens, long secrets, one way to authenticate; each problem names
its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_gatekeeper.cli import main
from tests.machine_clients import SECRET, client_key, public_jwk
from tests.unit.test_config import load, problems_of

CLIENT = "grants.clientCredentials.clients[0]"


def config_text(**client: Any) -> str:
    entry = {"clientID": "ci", "hosts": ["mcp.example.com"], "scopes": ["tools:read"]} | client
    entry = {name: value for name, value in entry.items() if value is not None}
    raw = {
        "proxy": {"hosts": [{"host": "mcp.example.com"}]},
        "grants": {"clientCredentials": {"enabled": True, "clients": [entry]}},
    }
    return yaml.safe_dump(raw)


KEY = public_jwk(client_key())


@pytest.mark.parametrize(
    ("client", "path", "fragment"),
    [
        ({"jwks": {"keys": [KEY | {"d": "AQAB"}]}}, f"{CLIENT}.jwks", "private key material"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, f"{CLIENT}.jwks", "private"),
        ({"jwks": {"keys": [{"kty": "RSA", "n": "x"}]}}, f"{CLIENT}.jwks", "not a usable"),
        ({"jwksURI": "http://keys.example.com/jwks"}, f"{CLIENT}.jwksURI", "https"),
        ({"secret": SECRET, "hosts": ["other.example.com"]}, f"{CLIENT}.hosts", "proxy.hosts"),
        ({"secret": SECRET, "scopes": ['say "hi"']}, f"{CLIENT}.scopes", "printable ASCII"),
        ({"secret": "short"}, f"{CLIENT}.secret", "at least 32"),
        ({"secret": SECRET, "clientID": "https://x.example/c"}, f"{CLIENT}.clientID", "https"),
        ({"secret": SECRET, "jwks": {"keys": [KEY]}}, f"{CLIENT}.secret", "exactly one"),
    ],
    ids=[
        *("private-jwk", "symmetric-jwk", "broken-jwk", "http-jwks-uri", "unknown-host"),
        *("bad-scope", "short-secret", "url-client-id", "two-ways"),
    ],
)
def test_a_bad_machine_client_is_a_problem_at_its_field(
    tmp_path: Path, client: dict[str, Any], path: str, fragment: str
) -> None:
    problems = problems_of(tmp_path, config_text(**client))
    # Rules across settings may name the list index as a dotted part (clients.0.hosts).
    named = [(p.path.replace(".0.", "[0]."), p.message) for p in problems]
    assert any(path in where and fragment in why for where, why in named), problems


@pytest.mark.parametrize(
    "client",
    [
        {"jwks": {"keys": [KEY]}},
        {"jwksURI": "https://keys.example.com/jwks.json"},
        {"jwksURI": "http://127.0.0.1:9000/jwks.json"},
    ],
    ids=["inline-public-key", "https-jwks-uri", "loopback-jwks-uri"],
)
def test_good_machine_clients_load(tmp_path: Path, client: dict[str, Any]) -> None:
    config = load(tmp_path, config_text(**client))
    assert config.grants.client_credentials.clients[0].hosts == ["mcp.example.com"]


def test_the_secret_comes_from_a_file(tmp_path: Path) -> None:
    """``secretFile`` keeps it out of the configuration (a mounted Kubernetes Secret)."""
    secret_file = tmp_path / "ci-secret"
    secret_file.write_text(SECRET + "\n")
    config = load(tmp_path, config_text(secretFile=str(secret_file)))
    secret = config.grants.client_credentials.clients[0].secret
    assert secret is not None and secret.get_secret_value() == SECRET


def test_check_config_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_text(jwks={"keys": [KEY | {"d": "AQAB"}]}))
    assert main(["check-config", "--config", str(path)]) == 2
    assert f"{CLIENT}.jwks" in capsys.readouterr().err
