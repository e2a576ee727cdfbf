"""`mcp-gatekeeper probe`: through every real gateway a correct deployment passes every check,
and the usual wiring mistakes are named, each with its fix."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from mcp_gatekeeper.cli import main
from mcp_gatekeeper.probe.resource import INITIALIZE, REQUEST_HEADERS
from tests.e2e.stack import HOST_A, HOST_B, notes_server, run_stack_without_idp
from tests.integration.harness import GATEWAY_NAMES, Gateway, GatewayOptions
from tests.integration.harness.ports import LOOPBACK
from tests.support import mint

pytestmark = pytest.mark.gateway

CHECKS = [
    "challenge", "browser clients", "host headers", "invalid token", "routed host",
    "resource metadata",
    "well-known fallback", "server metadata", "jwks", "token endpoint", "registration endpoint",
    "authorization endpoint", "cors",
]  # fmt: skip


@pytest.fixture(scope="module", params=GATEWAY_NAMES)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, FastAPI]]:
    """Each gateway configured as the examples configure it."""
    with run_stack_without_idp(request.param, tmp_path_factory.mktemp(request.param)) as stack:
        yield stack


def mcp_url(gateway: Gateway) -> str:
    return f"http://{HOST_A}:{gateway.port}/mcp"


def probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["probe", "--json", *args])
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return code, report


def outcomes(report: dict[str, object]) -> dict[str, str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return {check["name"]: check["outcome"] for check in checks}


def test_a_correct_deployment_passes_every_check(
    deployment: tuple[Gateway, FastAPI], capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing to fix, exit 0."""
    code, report = probe(capsys, mcp_url(deployment[0]))
    assert outcomes(report) == dict.fromkeys(CHECKS, "pass"), report
    assert code == 0 and report["stopped"] == ""


def test_tokens_are_checked_for_the_url_they_were_issued_for(
    deployment: tuple[Gateway, FastAPI], capsys: pytest.CaptureFixture[str]
) -> None:
    gateway, app = deployment
    mine = mint(app, f"{HOST_A}:{gateway.port}", scopes=("notes:read", "notes:write"))
    read_only = mint(app, f"{HOST_A}:{gateway.port}", scopes=("notes:read",))
    other = mint(app, f"{HOST_B}:{gateway.port}", scopes=("notes:read",))
    code, report = probe(capsys, mcp_url(gateway), "--token", mine)
    assert code == 0 and outcomes(report)["token"] == "pass", report
    # No gateway here shows an initialize's tool: a read-only token is accepted with a warning.
    code, report = probe(capsys, mcp_url(gateway), "--token", read_only)
    assert code == 0 and outcomes(report)["token"] == "warn", report
    code, report = probe(capsys, mcp_url(gateway), "--token", other)
    assert code == 1 and outcomes(report)["token"] == "fail", report


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
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Traefik trusting client forwarded headers lets a client choose the host mcp-gatekeeper
    checks; everything else works, so only this check can tell."""
    options = GatewayOptions(trust_forward_header=True)
    with run_stack_without_idp("traefik", tmp_path, options) as (gateway, _app):
        code, report = probe(capsys, mcp_url(gateway))
    found = outcomes(report)
    assert code == 1 and found["host headers"] == "fail", report
    assert {name for name, outcome in found.items() if outcome != "pass"} == {"host headers"}


#: A token that may call every tool: an initialize is let through whatever the tool policy.
EVERY_SCOPE = ("notes:read", "notes:write")


def absolute_form(gateway: Gateway, routed: str, host_header: str, token: str) -> int:
    """The status of ``POST http://<routed>/mcp`` (absolute-form) with another ``Host``."""
    connection = http.client.HTTPConnection(LOOPBACK, gateway.port, timeout=10)
    body = json.dumps(INITIALIZE).encode()
    try:
        connection.putrequest("POST", f"http://{routed}:{gateway.port}/mcp", skip_host=True)
        connection.putheader("Host", f"{host_header}:{gateway.port}")
        for name, value in {**REQUEST_HEADERS, "authorization": f"Bearer {token}"}.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_a_token_opens_only_the_host_the_gateway_routed_on(
    deployment: tuple[Gateway, FastAPI],
) -> None:
    """A's token in a request the gateway routes to B (the request line) while the Host header
    says A: refused through every gateway as the examples wire it."""
    gateway, app = deployment
    token = mint(app, f"{HOST_A}:{gateway.port}", scopes=EVERY_SCOPE)
    assert absolute_form(gateway, HOST_A, HOST_A, token) == 200  # the token is good at A
    assert absolute_form(gateway, HOST_B, HOST_A, token) == 401


def test_the_old_ingress_nginx_wiring_is_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """auth-url without ?host=$host&end=1, the service on X-Original-URL (which the controller
    builds from the Host header): every other check passes, and A's token opens B's MCP server
    with an absolute-form request; the routed-host check fails and names the fix."""
    options = GatewayOptions(legacy_ingress_nginx_host=True)
    with run_stack_without_idp("ingress-nginx", tmp_path, options) as (gateway, app):
        code, report = probe(capsys, mcp_url(gateway))
        token = mint(app, f"{HOST_A}:{gateway.port}", scopes=EVERY_SCOPE)
        assert absolute_form(gateway, HOST_B, HOST_A, token) == 200  # the hole itself
    found = outcomes(report)
    assert code == 1 and found["routed host"] == "fail", report
    assert {name for name, outcome in found.items() if outcome != "pass"} == {"routed host"}
    checks = report["checks"]
    assert isinstance(checks, list)
    (check,) = [check for check in checks if check["name"] == "routed host"]
    assert "with Host: mcp-gatekeeper-probe.invalid: 403" in check["detail"]
    assert "the host checked was the Host header's" in check["detail"]
    assert "/authenticate?host=$host&end=1" in check["hint"]
    assert "proxy.trustedHostHeaders: query" in check["hint"]


def test_unrouted_authorization_server_paths_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The metadata paths fall under the MCP route's forward-auth: the challenge works, then the
    metadata fetch gets the challenge too, and the probe says to route those paths."""
    options = GatewayOptions(route_authorization_server=False)
    with run_stack_without_idp("traefik", tmp_path, options) as (gateway, _app):
        code = main(["probe", mcp_url(gateway)])
    text = capsys.readouterr().out
    assert code == 1 and "PASS  challenge" in text
    assert "FAIL  resource metadata: 401 from http://" in text
    assert "/.well-known/oauth-protected-resource/mcp, the forward-auth challenge" in text
    assert "hint: route the authorization-server paths (`mcp-gatekeeper paths`" in text
    assert "stopped: the protected-resource metadata names the authorization server" in text


def test_a_url_that_is_not_the_configured_resource_is_named(
    deployment: tuple[Gateway, FastAPI], capsys: pytest.CaptureFixture[str]
) -> None:
    """Probing another path of the host: challenged, but the metadata names /mcp, which is not
    a parent of it, so SDK clients would stop there."""
    gateway, _app = deployment
    code = main(["probe", f"http://{HOST_A}:{gateway.port}/other/mcp"])
    text = capsys.readouterr().out
    assert code == 1
    assert "is not http://" in text and "SDK clients stop here" in text
    assert "hint: the URL clients use must be the host's canonical resource" in text
