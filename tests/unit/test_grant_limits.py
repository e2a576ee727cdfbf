"""The bounds of the grants' settings: each value that would break a flow (a device code that
expires at once, a workload JWT that lives for years) is named by check-config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_gatekeeper.config import ConfigError, load_config
from tests.unit.test_workloads import issuer


def problems(tmp_path: Path, grants: dict[str, Any]) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump({"proxy": {"hosts": [{"host": "mcp.example.com"}]}} | {"grants": grants})
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("device", "problem"),
    [
        ({"codeTTL": "0s"}, "codeTTL: at least 60s (a person types the code on another device)"),
        ({"interval": "0s"}, "interval: between 1s and 60s"),
        ({"interval": "2m"}, "interval: between 1s and 60s"),
        ({"userCodeAttemptsPerMinute": 1e9}, "userCodeAttemptsPerMinute: "),
        ({"requestsPerMinutePerAddress": 0}, "requestsPerMinutePerAddress: "),
        ({"maxPendingPerClient": 0}, "maxPendingPerClient: "),
    ],
)
def test_device_code_bounds(tmp_path: Path, device: dict[str, Any], problem: str) -> None:
    found = problems(tmp_path, {"deviceCode": {"enabled": True, **device}})
    assert any(p.startswith(f"grants.deviceCode.{problem}") for p in found), found


def test_workload_issuer_bounds(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "jwtBearer": {
                "enabled": True,
                "issuers": [
                    issuer(maxLifetime="87600h"),
                    issuer(issuer="https://staging.example.com"),
                ],
            }
        },
    )
    assert "grants.jwtBearer.issuers[0].maxLifetime: at most 24h" in found
    # Two issuers, one (empty) prefix: their workloads of one name would be one user.
    assert any(
        "workload issuers need distinct subjectPrefix values (e.g. prod: and staging:)" in p
        for p in found
    ), found


def test_jwt_bearer_is_enabled_with_an_issuer(tmp_path: Path) -> None:
    found = problems(tmp_path, {"jwtBearer": {"enabled": True}})
    assert found == ["grants.jwtBearer.issuers: enable it with at least one issuer"], found


@pytest.mark.parametrize("actor", ["", "two words", "tab\there"])
def test_actors_are_client_ids(tmp_path: Path, actor: str) -> None:
    found = problems(tmp_path, {"tokenExchange": {"enabled": True, "actors": [actor]}})
    assert any(p.startswith("grants.tokenExchange.actors") for p in found), found
