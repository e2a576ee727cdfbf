"""Processes the benchmark starts and always stops: the bench server and plain nginx."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
NGINX = "/usr/sbin/nginx"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # After "pid (comm) ": state is field 3, utime 14, stime 15 (1-based), i.e. index 11, 12.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_busy_seconds() -> float:
    """CPU time all processes on the machine used so far (everything but idle and iowait)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def free_port() -> int:
    """A port that was free a moment ago (callers retry if it is taken before they bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class ServerProcess:
    """``bench/server.py`` in a child process, talked to over its stdin/stdout."""

    def __init__(self, name: str, log_dir: Path, *args: str) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[str] = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "server.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.info: dict[str, Any] = {}

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.name}: no answer in {timeout}s") from None
        if line is None:
            tail = self.log_path.read_text()[-2000:]
            raise RuntimeError(f"{self.name} exited ({self.process.poll()}):\n{tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        self.info = self._next(timeout)
        return self.info

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        port: int = self.info["port"]
        return port

    def command(self, line: str, timeout: float = 60.0) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._next(timeout)

    def decodes(self) -> int:
        count: int = self.command("stats")["decodes"]
        return count

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                stop(self.process, timeout=5)
        self._log.close()


NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/client_body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;

  # The protected MCP server: a trivial upstream (nginx itself answering 200).
  upstream mcp {{ server 127.0.0.1:{mcp_port}; keepalive 64; }}
  # The service under test, kept alive: without it the hop costs 0.4x (perf.md §4).
  upstream gatekeeper {{ server 127.0.0.1:{gatekeeper_port}; keepalive 64; }}

  server {{
    listen 127.0.0.1:{mcp_port};
    location / {{ return 200 "ok\\n"; }}
  }}

  server {{
    listen 127.0.0.1:{port};

    location / {{
      auth_request /_gatekeeper;
      auth_request_set $auth_user $upstream_http_x_auth_request_user;
      auth_request_set $auth_email $upstream_http_x_auth_request_email;
      auth_request_set $auth_groups $upstream_http_x_auth_request_groups;
      auth_request_set $auth_scopes $upstream_http_x_auth_request_scopes;
      proxy_http_version 1.1;
      # Every proxy_set_header in a location drops the inherited ones: repeat Connection "".
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Auth-Request-User $auth_user;
      proxy_set_header X-Auth-Request-Email $auth_email;
      proxy_set_header X-Auth-Request-Groups $auth_groups;
      proxy_set_header X-Auth-Request-Scopes $auth_scopes;
      proxy_pass http://mcp;
    }}

    location = /_gatekeeper {{
      internal;
      proxy_pass http://gatekeeper/authenticate;
      proxy_http_version 1.1;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
      # proxy.trustedHostHeaders: host -> the MCP host travels in Host.
      proxy_set_header Host $host;
    }}
  }}
}}
"""


class Nginx:
    """Plain nginx in front: ``auth_request`` to the service, upstream keep-alive both ways."""

    def __init__(self, work_dir: Path, gatekeeper_port: int) -> None:
        self.dir = work_dir / "nginx"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "nginx.conf"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        last_error: Exception | None = None
        for _ in range(5):
            self.port, mcp_port = free_port(), free_port()
            self.conf.write_text(
                NGINX_CONF.format(
                    dir=self.dir,
                    port=self.port,
                    mcp_port=mcp_port,
                    gatekeeper_port=gatekeeper_port,
                )
            )
            self.process = subprocess.Popen(
                [
                    NGINX,
                    "-p",
                    str(self.dir),
                    "-c",
                    str(self.conf),
                    "-e",
                    str(self.dir / "nginx-error.log"),
                    "-g",
                    "daemon off;",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for_port(self.port, self.process, 10.0)
                wait_for_port(mcp_port, self.process, 10.0)
                return
            except (RuntimeError, TimeoutError) as exc:  # e.g. the port was taken meanwhile
                last_error = exc
                self.stop()
        raise RuntimeError(f"nginx did not start: {last_error}; see {self.dir}/nginx-error.log")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def pids(self) -> list[int]:
        """The master and its workers."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [self.pid, *(int(pid) for pid in children)]

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += cpu_seconds(pid)
        return total

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                self.process.wait(5)
        self.process = None


def pin(pid: int, cores: set[int]) -> None:
    """Every thread of ``pid`` on ``cores`` (threads it starts later inherit that).

    ``sched_setaffinity(pid)`` alone moves only the main thread: Envoy's worker thread, Go's
    scheduler threads and grpcio's threads would still run on any core.
    """
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that has just exited
            os.sched_setaffinity(int(task.name), cores)


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate ``process`` and wait; kill it if it has not ended within ``timeout``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
