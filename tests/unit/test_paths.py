"""The one list of authorization-server paths: printed for gateways, and really served."""

from __future__ import annotations

import json

import pytest

from mcp_gatekeeper.cli import main
from mcp_gatekeeper.paths import AUTHORIZATION_SERVER_PATHS
from tests.support import make_config, running


def test_paths_command_prints_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    """`mcp-gatekeeper paths` prints JSON that charts and scripts can read."""
    assert main(["paths"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == [{"path": p.path, "match": p.match} for p in AUTHORIZATION_SERVER_PATHS]
    assert {"path": "/token", "match": "exact"} in printed


async def test_every_listed_path_is_served() -> None:
    """Routing the list to the service reaches a real endpoint for each entry (never a 404)."""
    async with running(make_config(), base_url="https://a.example.test") as (_app, client):
        for routed in AUTHORIZATION_SERVER_PATHS:
            path = routed.path + ("/mcp" if routed.match == "prefix" else "")
            statuses = {
                (await client.request(method, path)).status_code for method in ("GET", "POST")
            }
            assert statuses - {404, 405}, f"{path} answered only {statuses}"
