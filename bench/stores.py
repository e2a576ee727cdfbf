"""``/authenticate`` with the memory, sqlite and Redis stores side by side, and 1 vs 2 workers.

    .venv/bin/python bench/stores.py [--quick]

The hot path must not touch the store, so the three stores should serve ``/authenticate`` at the
same rate: the figures are ratios to the memory store, measured in the same repetition (variants
round-robin, order rotated per repetition, median over repetitions; the style of
``authenticate.py``). Each variant is ``mcp-gatekeeper serve`` in its own process with a real
token from the demo login; wrk sends that token (the verify-cache hit path, where any store access
would show most). For Redis, ``INFO commandstats`` before and after counts the commands the
service sent during the run: the background polls only, none per request. Then the sqlite store
with 1 and with 2 uvicorn workers, wrk on the same 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
import yaml
from cryptography.fernet import Fernet
from demo_login import demo_token
from loadgen import median, run_wrk
from procs import BENCH_DIR, free_port, wait_for_port

RESULTS = BENCH_DIR / "results" / "stores.json"


@dataclass
class Variant:
    name: str
    url: str
    workers: int = 1


@dataclass
class Server:
    variant: Variant
    process: subprocess.Popen[bytes]
    port: int
    token: str

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[int]:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(workdir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, 10.0)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def serving(variant: Variant, workdir: Path, key: str) -> Iterator[Server]:
    port = free_port()
    config = {
        "proxy": {"hosts": [{"host": f"127.0.0.1:{port}"}]},
        "server": {"host": "127.0.0.1", "workers": variant.workers, "logLevel": "warning"},
        "store": {
            "url": variant.url,
            **({"encryptionKey": key} if variant.url != "memory://" else {}),
        },
    }
    path = workdir / f"{variant.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"{variant.name}-metrics")}
    command = [sys.executable, "-m", "mcp_gatekeeper.cli", "serve", "--config", str(path)]
    log = (workdir / f"{variant.name}.log").open("wb")
    process = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=log, env=env)
    try:
        wait_for_port(port, process, 30.0)
        deadline = time.monotonic() + 30
        while httpx.get(f"http://127.0.0.1:{port}/readyz", trust_env=False).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{variant.name} not ready")
            time.sleep(0.05)
        yield Server(
            variant, process, port, demo_token(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")
        )
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def measure(server: Server, seconds: int) -> float:
    result = run_wrk(
        f"http://127.0.0.1:{server.port}/authenticate",
        seconds=seconds,
        headers=[f"Host: {server.host}", f"Authorization: Bearer {server.token}"],
    )
    if result.non_2xx or result.socket_errors:
        raise RuntimeError(f"{server.variant.name}: {result.non_2xx} non-2xx, errors")
    return result.rps


def redis_commands(port: int) -> int:
    with redis.Redis(port=port) as client:
        stats = client.info("commandstats")
    return sum(int(entry["calls"]) for name, entry in stats.items() if name != "cmdstat_info")


def rounds(servers: list[Server], reps: int, seconds: int, warmup: int) -> dict[str, list[float]]:
    rps: dict[str, list[float]] = {server.variant.name: [] for server in servers}
    for server in servers:
        measure(server, warmup)
    for rep in range(reps):
        order = servers[rep % len(servers) :] + servers[: rep % len(servers)]
        for server in order:
            name = server.variant.name
            rps[name].append(measure(server, seconds))
            print(f"  rep {rep + 1} {name:>10}: {rps[name][-1]:8.0f} rps")
    return rps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repetitions of 2 s")
    args = parser.parse_args()
    reps, seconds, warmup = (2, 2, 1) if args.quick else (5, 5, 1)
    key = Fernet.generate_key().decode()
    report: dict[str, object] = {"reps": reps, "seconds": seconds, "cpus": os.cpu_count()}
    with (
        tempfile.TemporaryDirectory(prefix="bench-stores-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        redis_port = stack.enter_context(redis_server(workdir))
        stores = [
            Variant("memory", "memory://"),
            Variant("sqlite", f"sqlite://{workdir}/state.db"),
            Variant("redis", f"redis://127.0.0.1:{redis_port}/0"),
        ]
        print("stores, 1 worker each: /authenticate, cached token (wrk -t1 -c64)")
        servers = [stack.enter_context(serving(variant, workdir, key)) for variant in stores]
        before = redis_commands(redis_port)
        started = time.monotonic()
        rps = rounds(servers, reps, seconds, warmup)
        commands = redis_commands(redis_port) - before
        elapsed = time.monotonic() - started
        redis_requests = sum(rps["redis"]) * seconds
        ratios = {
            name: median([value / base for value, base in zip(values, rps["memory"], strict=True)])
            for name, values in rps.items()
        }
        report["stores"] = {"rps": rps, "ratio_to_memory": ratios}
        report["redis_commands"] = {
            "during_seconds": round(elapsed, 1),
            "commands": commands,
            "authenticate_requests_to_redis_variant": int(redis_requests),
            "per_1000_requests": round(1000 * commands / redis_requests, 3),
        }
        for server in servers:
            server.process.terminate()
        print("sqlite store: 1 vs 2 uvicorn workers")
        workers = [
            stack.enter_context(serving(Variant(f"sqlite-{n}w", stores[1].url, n), workdir, key))
            for n in (1, 2)
        ]
        wrps = rounds(workers, reps, seconds, warmup)
        two_vs_one = median(
            [two / one for one, two in zip(wrps["sqlite-1w"], wrps["sqlite-2w"], strict=True)]
        )
        report["workers"] = {"rps": wrps, "two_vs_one": two_vs_one}
    print()
    print(f"{'variant':>10} {'median rps':>11} {'ratio to memory':>16}")
    for name, values in rps.items():
        print(f"{name:>10} {median(values):11.0f} {ratios[name]:16.2f}")
    per_k = report["redis_commands"]["per_1000_requests"]  # type: ignore[index]
    print(f"Redis commands during the runs: {commands} ({per_k} per 1,000 /authenticate)")
    print(
        f"sqlite, 2 workers vs 1: {two_vs_one:.2f}x "
        f"({median(wrps['sqlite-1w']):.0f} -> {median(wrps['sqlite-2w']):.0f} rps)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
