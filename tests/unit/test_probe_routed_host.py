"""The probe's routed-host check against a stand-in gateway: what it sends (an absolute-form
request with a made-up Host, over TLS with the probe's CA) and how each answer is judged.
tests/e2e/test_probe.py runs it through the real gateways."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mcp_gatekeeper.probe.report import Outcome, Report
from mcp_gatekeeper.probe.routed_host import PROBE_HOST, check
from tests.integration.harness import free_port
from tests.tls import Pki, make_pki

METADATA = "https://127.0.0.1/.well-known/oauth-protected-resource/mcp"
CHALLENGE = f'Bearer resource_metadata="{METADATA}", scope="notes:read"'


@dataclass
class Gateway:
    """Answers every POST with ``status`` and ``headers``, and remembers what it was sent."""

    status: int = 401
    headers: dict[str, str] = field(default_factory=lambda: {"WWW-Authenticate": CHALLENGE})
    seen: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def gateway(pki: Pki) -> Iterator[tuple[Gateway, int]]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.seen.append((self.path, self.headers.get("Host", "")))
            self.send_response(state.status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = pki.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


async def run(port: int, ca_file: Path | bool) -> Report:
    report = Report(url=f"https://127.0.0.1:{port}/mcp")
    verify = str(ca_file) if isinstance(ca_file, Path) else ca_file
    await check(report, report.url, METADATA, verify=verify, timeout=5)
    return report


async def test_sends_the_mcp_url_as_request_target_with_another_host(
    gateway: tuple[Gateway, int], pki: Pki
) -> None:
    """The request line holds the whole MCP URL, the Host header the made-up name; the TLS
    connection trusts the probe's CA. The MCP URL's own challenge passes."""
    state, port = gateway
    report = await run(port, pki.ca_file)
    assert state.seen == [(f"https://127.0.0.1:{port}/mcp", PROBE_HOST)]
    (found,) = report.checks
    assert (found.name, found.outcome) == ("routed host", Outcome.PASS), found


@pytest.mark.parametrize(
    ("status", "headers", "outcome"),
    [
        (400, {}, Outcome.PASS),  # the gateway refuses the mismatch
        (421, {}, Outcome.PASS),
        (403, {}, Outcome.FAIL),  # mcp-gatekeeper checked the Host header: an unknown host
        (401, {"WWW-Authenticate": 'Bearer resource_metadata="https://other/x"'}, Outcome.FAIL),
        (401, {}, Outcome.FAIL),
        (200, {}, Outcome.FAIL),  # no forward-auth at all for such a request
        (404, {}, Outcome.WARN),  # routed on the Host header: nothing to compare
        (502, {}, Outcome.WARN),
    ],
)
async def test_each_answer_is_judged(
    gateway: tuple[Gateway, int], pki: Pki, status: int, headers: dict[str, str], outcome: Outcome
) -> None:
    state, port = gateway
    state.status, state.headers = status, headers
    (found,) = (await run(port, pki.ca_file)).checks
    assert found.outcome is outcome, found
    if outcome is Outcome.FAIL and status != 200:
        assert "authenticate?host=$host&end=1" in found.hint
        assert "proxy.trustedHostHeaders: query" in found.hint


async def test_a_certificate_the_ca_does_not_sign_is_a_warning(
    gateway: tuple[Gateway, int],
) -> None:
    """verify=True (the system CAs) refuses the test CA's certificate: no answer, no verdict."""
    _state, port = gateway
    (found,) = (await run(port, True)).checks
    assert found.outcome is Outcome.WARN and "no answer" in found.detail, found


async def test_no_gateway_is_a_warning() -> None:
    (found,) = (await run(free_port(), False)).checks
    assert found.outcome is Outcome.WARN and "no answer" in found.detail, found
