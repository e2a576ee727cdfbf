"""`make run` works: scripts/demo.py brings up Traefik, mcp-gatekeeper and the notes MCP server,
and the real SDK client signs in at the MCP URL it prints."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from mcp_gatekeeper.probe import Outcome, probe
from tests.e2e.mcp_client import HeadlessBrowser, Recorder, mcp_session
from tests.e2e.stack import ROOT, ready_line
from tests.integration.harness import start_proc
from tests.integration.harness.ports import port_accepts

pytestmark = pytest.mark.gateway
DEMO = ROOT / "scripts" / "demo.py"


async def test_demo_url_takes_the_sdk_client_to_the_tools_and_ctrl_c_stops_all(
    tmp_path: Path,
) -> None:
    """The printed URL leads through the demo login to the notes tools; Ctrl-C stops it all."""
    log = tmp_path / "demo.log"
    with start_proc([sys.executable, str(DEMO), "--port", "0"], log, cwd=ROOT) as proc:
        url = ready_line(proc, log, "MCP server URL: ").split(": ", 1)[1]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", url), url
        command = ready_line(proc, log, "  Check the wiring").split(": ", 1)[1]
        assert command.split()[1:] == ["probe", url]
        report = await probe(url)
        assert {check.outcome for check in report.checks} == {Outcome.PASS}, report.text()
        browser = HeadlessBrowser(Recorder())
        try:
            async with mcp_session(url, browser) as session:
                me = await session.call("whoami")
                await session.call("add_note", title="demo", text="it works")
                notes = await session.call("list_notes")
        finally:
            await browser.aclose()
        ports = {int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", log.read_text())}
        os.kill(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        while proc.returncode is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == 0, proc.describe("the demo did not stop cleanly on Ctrl-C")
    assert me == {
        "user": "demo",
        "email": "demo@example.com",
        "groups": "demo",
        "scopes": "notes:read notes:write",
    }
    assert "demo" in notes["result"]
    steps = browser.recorder.steps(url.removesuffix("/mcp"))
    assert "GET /demo/login 200" in steps and "POST /token 200" in steps, steps
    assert len(ports) == 3 and not [port for port in ports if port_accepts(port)]
    assert log.read_text().rstrip().endswith("stopped")
