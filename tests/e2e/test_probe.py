"""`mcp-gatekeeper probe`: through every real gateway a correct deployment passes every check,
and the usual wiring mistakes are named, each with its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_gatekeeper.cli import main
from tests.e2e.conftest import StackFor
from tests.e2e.stack import HOST_A, HOST_B, notes_server, run_custom_stack
from tests.integration.harness import GATEWAY_NAMES, GatewayOptions
from tests.support import mint
from tests.tls import Pki

pytestmark = pytest.mark.gateway

CHECKS = [
    "challenge", "browser clients", "host headers", "invalid token", "resource metadata",
    "well-known fallback", "server metadata", "jwks", "token endpoint", "registration endpoint",
    "authorization endpoint", "cors",
]  # fmt: skip


def probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["probe", "--json", *args])
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return code, report


def outcomes(report: dict[str, object]) -> dict[str, str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return {check["name"]: check["outcome"] for check in checks}


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_a_correct_deployment_passes_every_check(
    gateway: str, stack_for: StackFor, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each gateway as the examples configure it: nothing to fix, exit 0."""
    stack = stack_for(gateway)
    code, report = probe(capsys, stack.mcp_url())
    assert outcomes(report) == dict.fromkeys(CHECKS, "pass"), report
    assert code == 0 and report["stopped"] == ""


def test_tokens_are_checked_for_the_url_they_were_issued_for(
    stack_for: StackFor, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = stack_for("traefik")
    mine = mint(stack.app, f"{HOST_A}:{stack.gateway.port}", scopes=("notes:read",))
    other = mint(stack.app, f"{HOST_B}:{stack.gateway.port}", scopes=("notes:read",))
    code, report = probe(capsys, stack.mcp_url(), "--token", mine)
    assert code == 0 and outcomes(report)["token"] == "pass"
    code, report = probe(capsys, stack.mcp_url(), "--token", other)
    assert code == 1 and outcomes(report)["token"] == "fail"


def test_an_unprotected_mcp_server_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The MCP server reached without the gateway's forward-auth: the first check says so."""
    with notes_server(tmp_path) as port:
        code = main(["probe", f"http://127.0.0.1:{port}/mcp"])
    text = capsys.readouterr().out
    assert code == 1
    assert "FAIL  challenge: 200 without a token" in text
    assert "hint: the MCP server answered without a token" in text and "/authenticate" in text
    assert "stopped: discovery starts from the challenge" in text


def test_a_gateway_passing_client_host_headers_is_caught(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    """Traefik with trustForwardHeader: true lets a client choose the host mcp-gatekeeper
    checks; everything else works, so only this check can tell."""
    options = GatewayOptions(trust_forward_header=True)
    with run_custom_stack("traefik", tmp_path, pki.ca_file, options=options) as stack:
        code, report = probe(capsys, stack.mcp_url())
    found = outcomes(report)
    assert code == 1 and found["host headers"] == "fail"
    assert {name for name, outcome in found.items() if outcome != "pass"} == {"host headers"}
