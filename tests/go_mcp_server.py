"""The Go MCP server of ``tests/go_mcp``, built with the local Go toolchain and run on loopback.

It decodes JSON-RPC with ``encoding/json`` into plain structs, as Go MCP servers do, so object
keys match fields case-insensitively and the last duplicate wins: the server a parser
differential in the gatekeeper would hurt. ``GET /calls`` tells which tools really ran.

The binary is built offline (no module download, no toolchain switch) into a cache directory
keyed by the source and the Go version, so xdist workers and later sessions share one build.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import Proc, start_proc

SOURCE = Path(__file__).parent / "go_mcp"
INSTALL = "scripts/install-test-deps.sh"
BUILD_TIMEOUT = 300.0
START_TIMEOUT = 10.0
_LISTENING = re.compile(rb"^listening on (127\.0\.0\.1:\d+)$", re.MULTILINE)


def go_binary() -> str:
    """The ``go`` command; a missing toolchain fails the test (never a skip)."""
    found = shutil.which("go") or shutil.which("go", path="/usr/lib/go/bin:/usr/local/go/bin")
    if found is None:
        pytest.fail(f"go is not installed: run {INSTALL} (Debian package golang-go)", pytrace=False)
    return found


def _cache_root() -> Path:
    """A directory under the temp dir that only this user can write (its name is predictable)."""
    root = Path(tempfile.gettempdir()) / f"mcp-gatekeeper-go-mcp-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{root} is not a private directory of this user; remove it")
    return root


def _build_env(root: Path) -> dict[str, str]:
    """Offline and self-contained: nothing downloaded, no user or workspace settings read."""
    gopath = root / "gopath"
    return {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOENV": "off",
        "GOWORK": "off",
        "GOCACHE": str(root / "gocache"),
        "GOPATH": str(gopath),
        "GOMODCACHE": str(gopath / "pkg" / "mod"),
        "CGO_ENABLED": "0",
    }


@functools.cache
def build_go_mcp_server() -> Path:
    """Build ``tests/go_mcp`` (once per source and Go version) and return the binary's path."""
    go = go_binary()
    root = _cache_root()
    env = _build_env(root)
    version = subprocess.run(
        [go, "version"], env=env, capture_output=True, check=True, timeout=60
    ).stdout
    digest = hashlib.sha256(version)
    for path in sorted(SOURCE.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    binary = root / digest.hexdigest()[:16] / "gomcp"
    binary.parent.mkdir(exist_ok=True)
    # One build at a time: xdist workers starting together wait for the first one's binary.
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.is_file():
            _go_build(go, env, binary)
    return binary


def _go_build(go: str, env: dict[str, str], binary: Path) -> None:
    # No -trimpath: it would recompile the standard library instead of using the installed one.
    partial = binary.with_name(f"gomcp.{os.getpid()}.partial")
    built = subprocess.run(
        [go, "build", "-o", str(partial), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    if built.returncode != 0:
        partial.unlink(missing_ok=True)
        pytest.fail(
            f"go build of {SOURCE} failed (exit {built.returncode}):\n{built.stdout}{built.stderr}",
            pytrace=False,
        )
    # Renamed only when complete, so a binary that exists is never half-written.
    os.replace(partial, binary)


@dataclass(frozen=True)
class GoMcpServer:
    """A running Go MCP server: ``url`` is its MCP endpoint, ``base`` the server root."""

    base: str
    proc: Proc

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def calls(self) -> list[str]:
        """The names of the tools executed so far, in order."""
        response = httpx.get(f"{self.base}/calls", timeout=5.0, trust_env=False)
        response.raise_for_status()
        names = response.json()
        assert isinstance(names, list) and all(isinstance(n, str) for n in names), names
        return names

    def reset(self) -> None:
        """Forget the executed calls."""
        httpx.post(f"{self.base}/calls/reset", timeout=5.0, trust_env=False).raise_for_status()


def _wait_listening(proc: Proc, offset: int, timeout: float) -> str:
    """The ``host:port`` the server printed once it listens (it picks the port itself).

    The log is appended to, so only what follows ``offset`` is from this run.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _LISTENING.search(proc.log_path.read_bytes()[offset:])
        if found is not None:
            return found.group(1).decode()
        if proc.returncode is not None:
            raise RuntimeError(proc.describe("the Go MCP server exited during start-up"))
        time.sleep(0.02)
    raise RuntimeError(proc.describe(f"the Go MCP server did not listen within {timeout:.0f}s"))


@contextmanager
def run_go_mcp_server(log_path: Path | None = None) -> Iterator[GoMcpServer]:
    """Run the Go MCP server on a free 127.0.0.1 port until the block ends.

    Its output goes to ``log_path`` (a temporary file when None), quoted when start-up fails.
    """
    binary = build_go_mcp_server()
    with tempfile.TemporaryDirectory(prefix="go-mcp-") as scratch:
        log = log_path or Path(scratch) / "go-mcp.log"
        offset = log.stat().st_size if log.exists() else 0
        # Port 0: the kernel picks a free port and the server reports it, so no race on it.
        with start_proc([str(binary), "-addr", "127.0.0.1:0"], log) as proc:
            address = _wait_listening(proc, offset, START_TIMEOUT)
            yield GoMcpServer(base=f"http://{address}", proc=proc)
