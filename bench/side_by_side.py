"""What ``versus_go.py`` and ``versus_envoy.py`` share: mcp-gatekeeper's bench server pinned to
one core with its tokens and JWKS, and wrk rounds against two contestants on the other cores.

Each repetition runs every contestant once on a cached token and once on a pool of 4,096 tokens
rotated through (the service's cache holds 256, so every request verifies); ratios are taken
inside a repetition and the medians printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from loadgen import run_wrk, write_pool_script
from procs import ServerProcess, pin, stop

CORE = 0
POOL = 4096
KINDS = ("cached", "uncached")


@dataclass(frozen=True)
class Service:
    server: ServerProcess
    host: str
    token: str
    jwks: str
    pool_file: Path


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs two cores: one for the checks, one for wrk")
    return parser.parse_args()


@contextlib.contextmanager
def pinned_service(work: Path) -> Iterator[Service]:
    """The bench server on ``CORE``, with a pool of distinct tokens and its JWKS."""
    pool_file = work / "pool.txt"
    server = ServerProcess(
        "ours", work, "--log-level", "warning", "--pool", str(POOL), "--pool-file", str(pool_file)
    )
    try:
        info = server.wait_ready()
        pin(server.pid, {CORE})
        jwks = httpx.get(
            f"http://127.0.0.1:{server.port}/openid/v1/jwks",
            headers={"Host": info["host"]},
            trust_env=False,
        ).text
        yield Service(server, info["host"], info["cached_token"], jwks, pool_file)
    finally:
        server.stop()


@contextlib.contextmanager
def stopping() -> Iterator[list[subprocess.Popen[Any]]]:
    """A list for the contestants' processes; each is stopped when the block ends."""
    processes: list[subprocess.Popen[Any]] = []
    try:
        yield processes
    finally:
        for process in processes:
            stop(process)


def compare(
    service: Service,
    work: Path,
    contestants: dict[str, dict[str, int]],
    *,
    path: str,
    reps: int,
    seconds: int,
) -> None:
    """Every contestant (name → port per kind) under wrk; the first one over the second."""
    os.sched_setaffinity(0, os.sched_getaffinity(0) - {CORE})  # wrk, started from here, too
    pool_lua = write_pool_script(
        work / "pool.lua",
        service.pool_file,
        host=service.host,
        cached=service.token,
        mix=False,
        url_path=path,
    )
    headers = {
        "cached": [f"Host: {service.host}", f"Authorization: Bearer {service.token}"],
        "uncached": [],
    }
    script = {"cached": None, "uncached": pool_lua}
    first, second = contestants
    ratios: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for rep in range(reps):
        rps: dict[tuple[str, str], float] = {}
        for kind in KINDS:
            for name, ports in contestants.items():
                result = run_wrk(
                    f"http://127.0.0.1:{ports[kind]}{path}",
                    seconds=seconds,
                    headers=headers[kind],
                    script=script[kind],
                    connections=16,
                )
                if result.non_2xx:
                    raise SystemExit(f"{name} {kind}: {result.non_2xx} answers other than 200")
                rps[name, kind] = result.rps
            ratios[kind].append(rps[first, kind] / rps[second, kind])
        shown = ", ".join(f"{name} {kind} {value:7.0f} rps" for (name, kind), value in rps.items())
        print(f"rep {rep + 1}: {shown}")
    for kind, values in ratios.items():
        print(f"{kind}: {first} / {second}, median {statistics.median(values):.2f}x")
