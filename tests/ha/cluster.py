"""Several mcp-gatekeeper processes on one Redis, behind one real Traefik that round-robins.

Everything is a real process on 127.0.0.1: ``redis-server`` (append-only file, fsync always, so
a restart keeps the data), N ``mcp-gatekeeper serve`` replicas on their own ports, Traefik with a
health-checked round-robin over them, and an echo upstream as the MCP server. Traefik's
ForwardAuth has one address, so it points at a second Traefik entry point that round-robins
``/authenticate`` over the replicas too (trusting the ``X-Forwarded-*`` headers it set itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.integration.harness import EchoUpstream, Proc, echo_upstream, free_port, start_proc
from tests.integration.harness.gateways import IDENTITY_HEADERS
from tests.store.conftest import fernet_key
from tests.store.redis_server import RedisServer

START_TIMEOUT = 30.0
LOOPBACK = "127.0.0.1"
SCOPES = [{"name": "mcp:read", "description": "Read", "tools": ["get"]}]


def wait_ready(url: str, proc: Proc, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(proc.describe("mcp-gatekeeper exited during start-up"))
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1.0, trust_env=False).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(proc.describe(f"mcp-gatekeeper not ready after {timeout:.0f}s"))


@dataclass
class Replica:
    """One ``mcp-gatekeeper serve`` process; stopped, killed and started again by tests."""

    config_path: Path
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def launch(self) -> Proc:
        command = [sys.executable, "-m", "mcp_gatekeeper.cli", "serve"]
        command += ["--config", str(self.config_path), "--port", str(self.port)]
        self.proc = start_proc(command, self.log_path, env=self.env)
        return self.proc

    def start(self) -> Replica:
        wait_ready(self.url, self.launch())
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.stop()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=10)
            self.proc = None


def write_config(
    path: Path,
    host: str,
    store: dict[str, Any],
    host_settings: dict[str, Any] | None = None,
    **server: Any,
) -> Path:
    config = {
        "proxy": {
            "hosts": [{"host": host, "scopes": SCOPES, **(host_settings or {})}],
            "trustedHostHeaders": "x-forwarded",
        },
        # Every test client registers from the one loopback address, and refreshes in a loop.
        "clients": {"registrationsPerMinutePerAddress": 1000},
        "tokens": {"refreshesPerMinute": 100000},
        "server": {"host": LOOPBACK, "logLevel": "warning", **server},
        "store": store,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def traefik_configs(
    workdir: Path, port: int, auth_port: int, replicas: list[int], mcp: int
) -> Path:
    servers = [{"url": f"http://{LOOPBACK}:{replica}"} for replica in replicas]
    # Health checks take a killed replica out of the rotation; for /authenticate (idempotent) a
    # retry covers the requests sent to it before that.
    pool = {
        "servers": servers,
        "passHostHeader": True,
        # A killed replica refuses connections at once, so a short interval finds it fast; the
        # generous timeout keeps a replica slowed by a loaded CI box from flapping out.
        "healthCheck": {"path": "/healthz", "interval": "300ms", "timeout": "1s"},
    }
    dynamic = {
        "http": {
            "routers": {
                # No retry here: a POST /token that reached a replica killed mid-request must
                # not be sent again (a refresh token would be presented twice).
                "oauth": {"entryPoints": ["web"], "rule": "PathPrefix(`/`)", "priority": 1,
                          "service": "replicas"},
                "mcp": {"entryPoints": ["web"], "rule": "PathPrefix(`/mcp`)", "priority": 100,
                        "middlewares": ["gatekeeper"], "service": "mcp"},
                "auth": {"entryPoints": ["auth"], "rule": "PathPrefix(`/`)",
                         "middlewares": ["retry"], "service": "replicas"},
            },
            "middlewares": {
                "gatekeeper": {"forwardAuth": {
                    "address": f"http://{LOOPBACK}:{auth_port}/authenticate",
                    "trustForwardHeader": False,
                    "authResponseHeaders": list(IDENTITY_HEADERS),
                }},
                "retry": {"retry": {"attempts": 5, "initialInterval": "20ms"}},
            },
            "services": {
                "replicas": {"loadBalancer": pool},
                "mcp": {"loadBalancer": {"servers": [{"url": f"http://{LOOPBACK}:{mcp}"}]}},
            },
        }
    }  # fmt: skip
    static = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            "web": {
                "address": f"{LOOPBACK}:{port}",
                "transport": {"lifeCycle": {"graceTimeOut": "0s"}},
            },
            "auth": {
                "address": f"{LOOPBACK}:{auth_port}",
                "transport": {"lifeCycle": {"graceTimeOut": "0s"}},
                "forwardedHeaders": {"trustedIPs": [f"{LOOPBACK}/32"]},
            },
        },
        "providers": {"file": {"filename": str(workdir / "dynamic.json"), "watch": False}},
        "log": {"level": "WARN"},
    }
    (workdir / "dynamic.json").write_text(json.dumps(dynamic))
    (workdir / "traefik.json").write_text(json.dumps(static))
    return workdir / "traefik.json"


@dataclass
class Cluster:
    redis: RedisServer
    replicas: list[Replica]
    gateway: Proc
    gateway_port: int
    upstream: EchoUpstream
    store: dict[str, Any]

    @property
    def host(self) -> str:
        """The MCP host as clients name it: the gateway's address."""
        return f"{LOOPBACK}:{self.gateway_port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def restart_all(self) -> None:
        for replica in self.replicas:
            replica.stop()
        procs = [replica.launch() for replica in self.replicas]
        for replica, proc in zip(self.replicas, procs, strict=True):
            wait_ready(replica.url, proc)
        # Ready is not yet routed: Traefik's health check (every 300 ms) marked every replica
        # down while they were all stopped, and answers 503 until it sees one up again.
        deadline = time.monotonic() + START_TIMEOUT
        while httpx.get(f"{self.url}/healthz", timeout=2.0, trust_env=False).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway never routed to the restarted replicas")
            time.sleep(0.05)


def _traefik_binary() -> str:
    candidate = Path(sys.executable).parent / "traefik"
    if not candidate.is_file():
        raise RuntimeError(f"no traefik next to {sys.executable}: run scripts/install-test-deps.sh")
    return str(candidate)


@contextlib.contextmanager
def running_cluster(
    workdir: Path, replica_count: int = 3, host_settings: dict[str, Any] | None = None
) -> Iterator[Cluster]:
    gateway_port, auth_port = free_port(), free_port()
    store = {"url": "", "encryptionKey": fernet_key(), "pollInterval": "500ms"}
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisServer(workdir / "redis", persist=True))
        store["url"] = redis.url
        upstream = stack.enter_context(echo_upstream())
        host = f"{LOOPBACK}:{gateway_port}"
        config = write_config(workdir / "config.yaml", host, store, host_settings)
        replicas = [
            Replica(config, free_port(), workdir / f"replica-{index}.log")
            for index in range(replica_count)
        ]
        for replica in replicas:
            stack.callback(replica.stop)
        procs = [replica.launch() for replica in replicas]
        for replica, proc in zip(replicas, procs, strict=True):
            wait_ready(replica.url, proc)
        static = traefik_configs(
            workdir, gateway_port, auth_port, [r.port for r in replicas], upstream.port
        )
        gateway = stack.enter_context(
            start_proc([_traefik_binary(), f"--configFile={static}"], workdir / "traefik.log")
        )
        cluster = Cluster(redis, replicas, gateway, gateway_port, upstream, store)
        deadline = time.monotonic() + START_TIMEOUT
        while not _gateway_routes(cluster):
            if time.monotonic() > deadline or gateway.returncode is not None:
                raise RuntimeError(gateway.describe("traefik did not route to the replicas"))
            time.sleep(0.05)
        yield cluster


def _gateway_routes(cluster: Cluster) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        response = httpx.get(
            f"{cluster.url}/mcp", headers={"host": cluster.host}, timeout=1.0, trust_env=False
        )
        return response.status_code == 401  # ForwardAuth reached a replica, which answered
    return False
