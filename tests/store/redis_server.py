"""A real ``redis-server`` on loopback (a unix socket or a free TCP port), started by the tests.

Optionally persistent (append-only file, fsync on every write), so a test can stop and restart
it on the same address and find the data again, as a production Redis with AOF would; optionally
with a password and TLS; optionally a replica of another; and a real Sentinel in front of them,
quick to fail over (down after half a second).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import redis

from tests.integration.harness import Proc, free_port, start_proc
from tests.tls import Pki

INSTALL = "scripts/install-test-deps.sh"
START_TIMEOUT = 10.0
PORT_ATTEMPTS = 3


def redis_binary() -> str:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if found is None:
        pytest.fail(
            f"redis-server is not installed: run {INSTALL} (Debian package redis-server)",
            pytrace=False,
        )
    return found


class RedisServer:
    def __init__(
        self,
        workdir: Path,
        *,
        unix: bool = False,
        persist: bool = False,
        password: str | None = None,
        pki: Pki | None = None,
        replica_of: RedisServer | None = None,
    ) -> None:
        self.workdir = workdir
        self.replica_of = replica_of
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.unix = unix
        self.persist = persist
        self.password = password
        self.pki = pki
        self.socket = workdir / "redis.sock"
        self.port = 0
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        if self.unix:
            return f"unix://{self.socket}"
        return f"{'rediss' if self.pki else 'redis'}://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        command = [redis_binary(), "--dir", str(self.workdir), "--save", ""]
        if self.persist:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        if self.password:
            command += ["--requirepass", self.password]
        if self.replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(self.replica_of.port)]
        if self.unix:
            socket = ["--unixsocket", str(self.socket), "--unixsocketperm", "700"]
            return [*command, "--port", "0", *socket]
        if self.pki is not None:
            command += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            command += ["--tls-cert-file", str(self.pki.cert_file)]
            command += ["--tls-key-file", str(self.pki.key_file)]
            return [*command, "--tls-ca-cert-file", str(self.pki.ca_file), "--bind", "127.0.0.1"]
        return [*command, "--port", str(self.port), "--bind", "127.0.0.1"]

    def client(self) -> redis.Redis:
        options: dict[str, Any] = {"socket_timeout": 1.0, "password": self.password}
        if self.unix:
            return redis.Redis(unix_socket_path=str(self.socket), **options)
        if self.pki is not None:
            options |= {"ssl": True, "ssl_ca_certs": str(self.pki.ca_file)}
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def _ready(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def start(self) -> RedisServer:
        """Start (again, on the same address if it ran before); wait until it answers PING."""
        for _attempt in range(PORT_ATTEMPTS):
            if not self.unix and self.port == 0:
                self.port = free_port()
            proc = start_proc(self._command(), self.workdir / "redis.log", cwd=self.workdir)
            self.proc = proc
            deadline = time.monotonic() + START_TIMEOUT
            while proc.returncode is None and time.monotonic() < deadline:
                if self._ready():
                    return self
                time.sleep(0.02)
            failure = proc.describe("redis-server did not start")
            self.stop()
            if "address already in use" not in failure.lower():
                raise RuntimeError(failure)
            self.port = 0
        raise RuntimeError("redis-server lost the race for a free port three times")

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file and exits."""
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SentinelServer:
    """A real Redis Sentinel watching ``master`` under the name ``mymaster``."""

    def __init__(self, workdir: Path, master: RedisServer) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.master = master
        self.port = 0
        self.proc: Proc | None = None

    def start(self) -> SentinelServer:
        self.port = free_port()
        conf = self.workdir / "sentinel.conf"  # Sentinel rewrites its file: a writable copy
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor mymaster 127.0.0.1 {self.master.port} 1\n"
            "sentinel down-after-milliseconds mymaster 500\n"
            "sentinel failover-timeout mymaster 5000\n"
        )
        proc = start_proc([redis_binary(), str(conf), "--sentinel"], self.workdir / "sentinel.log")
        self.proc = proc
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.returncode is None:
            if self.master_port() is not None:
                return self
            time.sleep(0.02)
        failure = proc.describe("redis sentinel did not start")
        self.stop()
        raise RuntimeError(failure)

    def master_port(self) -> int | None:
        """The port of the master Sentinel names now."""
        try:
            with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1) as client:
                command = ("SENTINEL", "get-master-addr-by-name", "mymaster")
                address = client.execute_command(*command)
        except redis.RedisError:
            return None
        return int(address[1]) if address else None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
