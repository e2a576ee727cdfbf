"""`make run` works: scripts/demo.py brings up Traefik, mcp-gatekeeper and the notes MCP server,
and the real SDK client signs in at the MCP URL it prints. Ctrl-C and SIGTERM stop all of it."""

from __future__ import annotations

import os
import re
import shlex
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
        "actor": "",
    }
    assert "demo" in notes["result"]
    steps = browser.recorder.steps(url.removesuffix("/mcp"))
    assert "GET /demo/login 200" in steps and "POST /token 200" in steps, steps
    assert len(ports) == 3 and not [port for port in ports if port_accepts(port)]
    assert log.read_text().rstrip().endswith("stopped")


def children_of(pid: int) -> set[int]:
    return {
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    }


def running(pid: int, cmdline: bytes) -> bool:
    """The process still runs (the same one: its command line, not a reused pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z" and (
            Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline
        )
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("via_make", [True, False], ids=["make-group", "demo-alone"])
def test_sigterm_stops_every_child_and_closes_every_port(tmp_path: Path, via_make: bool) -> None:
    """SIGTERM to `make run`'s process group (make passes a second signal on to the demo while
    it stops its children), or to the demo alone: every child is gone, every port closed."""
    log = tmp_path / "demo.log"
    demo = [sys.executable, str(DEMO), "--port", "0"]
    if via_make:
        # What `make run` ends in (scripts/run.sh execs the demo), without its venv bootstrap.
        makefile = tmp_path / "Makefile"
        makefile.write_text(f"run:\n\t{shlex.join(demo)}\n")
        command = ["make", "--no-print-directory", "-f", str(makefile), "run"]
    else:
        command = demo
    with start_proc(command, log, cwd=ROOT) as proc:
        ready_line(proc, log, "MCP server URL: ")
        (demo_pid,) = children_of(proc.pid) if via_make else (proc.pid,)
        children = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children_of(demo_pid)}
        demo_cmdline = Path(f"/proc/{demo_pid}/cmdline").read_bytes()
        ports = {int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", log.read_text())}
        os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while (proc.returncode is None or running(demo_pid, demo_cmdline)) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert not running(demo_pid, demo_cmdline), proc.describe("the demo did not stop")
        left = [pid for pid, cmdline in children.items() if running(pid, cmdline)]
        open_ports = [port for port in ports if port_accepts(port)]
        for pid in left:  # stopped here so a failure leaves nothing behind either
            os.kill(pid, signal.SIGKILL)
        if not via_make:
            assert proc.returncode == 0, proc.describe("the demo did not exit 0 on SIGTERM")
    assert len(children) == 3 and not left, (children, left, log.read_text())
    assert len(ports) == 3 and not open_ports, (ports, open_ports)
    # make may add a line of its own after the demo's last.
    output = log.read_text()
    assert "Traceback" not in output and "stopping ...\nstopped\n" in output, output
