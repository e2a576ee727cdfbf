"""A real three-master Redis Cluster on loopback, started by the tests.

Three ``redis-server`` processes with ``cluster-enabled yes`` on free ports (each also needs its
cluster bus port, port + 10000), joined with ``CLUSTER MEET`` and given a third of the 16384
slots each with ``CLUSTER ADDSLOTSRANGE``: what ``redis-cli --cluster create`` does, without
replicas. Ready once every node reports ``cluster_state:ok``.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from types import TracebackType

import redis

from tests.integration.harness import Proc, free_port, start_proc
from tests.store.redis_server import START_TIMEOUT, redis_binary

SLOTS = 16384
MASTERS = 3
BUS_OFFSET = 10000


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_node_port() -> int:
    """A free port whose cluster bus port is free too."""
    while True:
        port = free_port()
        if port + BUS_OFFSET < 65536 and _port_is_free(port + BUS_OFFSET):
            return port


class RedisCluster:
    def __init__(self, workdir: Path, masters: int = MASTERS) -> None:
        self.workdir = workdir
        self.ports = [_free_node_port() for _ in range(masters)]
        self.procs: list[Proc] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0)

    def start(self) -> RedisCluster:
        for port in self.ports:
            folder = self.workdir / str(port)
            folder.mkdir(parents=True, exist_ok=True)
            command = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1"]
            command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            command += ["--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no"]
            command += ["--dir", str(folder)]
            self.procs.append(start_proc(command, folder / "redis.log", cwd=folder))
        self._wait(lambda client: bool(client.ping()), "did not start")
        share = SLOTS // len(self.ports)
        for index, port in enumerate(self.ports):
            last = SLOTS - 1 if index == len(self.ports) - 1 else (index + 1) * share - 1
            with self.node(port) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", index * share, last)
                for other in self.ports[:index]:
                    client.execute_command("CLUSTER", "MEET", "127.0.0.1", other)
        self._wait(
            lambda client: b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO"),
            "did not form a cluster",
        )
        return self

    def _wait(self, check: object, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(self.ports)
        while pending and time.monotonic() < deadline:
            port = pending[0]
            try:
                with self.node(port) as client:
                    if check(client):  # type: ignore[operator]
                        pending.pop(0)
                        continue
            except redis.RedisError:
                pass
            time.sleep(0.05)
        if pending:
            described = "; ".join(proc.describe(f"redis-server {what}") for proc in self.procs)
            self.stop()
            raise RuntimeError(described)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.procs = []

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
