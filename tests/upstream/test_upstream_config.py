"""``proxy.hosts[].upstream.header``: a header of its own, named where ``check-config`` says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_gatekeeper.config.loader import ConfigError, load_config


def _problems(tmp_path: Path, header: str, **proxy: Any) -> list[str]:
    upstream = {"source": "login", "name": "GitHub", "header": header}
    raw = {
        "provider": {"name": "github", "clientID": "id", "clientSecret": "secret"},
        "proxy": {
            "hosts": [{"host": "a.example.com"}, {"host": "b.example.com", "upstream": upstream}],
            **proxy,
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    try:
        load_config(path, environ={})
    except ConfigError as exc:
        return [str(problem) for problem in exc.problems]
    return []


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("X-Auth-Request-User", "is also the identity header X-Auth-Request-User"),
        ("x-auth-request-groups", "is also the identity header X-Auth-Request-Groups"),
        ("DPoP", "DPoP carries the client's proof of possession"),
        ("X Upstream", "must be an HTTP header name"),
        ("Cookie", "must be an HTTP header name"),
    ],
)
def test_a_clashing_or_invalid_header_is_named_with_its_path(
    tmp_path: Path, header: str, why: str
) -> None:
    (problem,) = _problems(tmp_path, header)
    assert problem.startswith("proxy.hosts[1].upstream.header: "), problem
    assert why in problem


def test_renamed_identity_headers_are_the_ones_checked(tmp_path: Path) -> None:
    identity = {"user": "X-User", "email": "X-Email", "groups": "X-Groups", "scopes": "X-Scopes"}
    assert _problems(tmp_path, "X-Auth-Request-User", identityHeaders=identity) == []
    (problem,) = _problems(tmp_path, "x-email", identityHeaders=identity)
    assert problem.startswith("proxy.hosts[1].upstream.header: is also the identity header X-Email")


@pytest.mark.parametrize("header", ["Authorization", "X-Upstream-Token", "X-GitHub-Token"])
def test_a_header_of_its_own_is_accepted(tmp_path: Path, header: str) -> None:
    assert _problems(tmp_path, header) == []
