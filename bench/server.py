"""The server under test for ``bench/authenticate.py``: one uvicorn worker in its own process.

Usage: ``python bench/server.py [--cache-size N] [--pool N --pool-file PATH]``. It binds
``127.0.0.1:0``, runs the app's lifespan, mints tokens through the library API (there is no HTTP
minting endpoint) and prints ONE JSON line on stdout::

    {"port": ..., "pid": ..., "host": ..., "cached_token": "...", "pool_file": ..., ...}

``--pool N --pool-file PATH`` also writes N distinct tokens to PATH, one per line (the cache-miss
workload), without keeping them in the server's memory.

then serves. Afterwards it reads commands on stdin, one per line, and answers each with one JSON
line on stdout. These are bench-only hooks, not HTTP endpoints of the app:

- ``stats``: how many JWS signature verifications ran so far (to prove the uncached path misses
  the cache and the cached path hits it) and how many tokens the verify cache holds.
- ``rotate N [BASELINE_S]``: N rounds of: event-loop lag (a 1 ms ticker task, largest gap)
  while idle for ``BASELINE_S`` seconds, then while one ``KeyManager.rotate()`` runs with the
  real key generator.
- ``quit`` (or end of stdin): graceful shutdown, lifespan included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import uvicorn

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.forward_auth import tool_calls
from mcp_gatekeeper.main import create_app
from mcp_gatekeeper.ops.logging import configure_logging
from mcp_gatekeeper.server import uvicorn_options
from mcp_gatekeeper.services import Services
from mcp_gatekeeper.tokens import Identity, TokenVerifier, mint_access_token

BENCH_HOST = "bench.example.test"
IDENTITY = Identity("bench-user", "bench-user@example.test", ("eng", "ops"))
SCOPES = ("read",)
TICK_S = 0.001


class DecodeCounter:
    """Counts signature verifications (``TokenVerifier._verify_signed``, a cache miss).

    A method lookup plus an increment: ~0.1 µs against ~30 µs for the verify it counts.
    """

    def __init__(self) -> None:
        self.count = 0
        original = TokenVerifier._verify_signed

        def counting(verifier: TokenVerifier[Any], token: str) -> Any:
            self.count += 1
            return original(verifier, token)

        TokenVerifier._verify_signed = counting  # type: ignore[method-assign,assignment]


def build_config(cache_size: int, log_level: str) -> Config:
    return Config.model_validate(
        {
            "proxy": {
                "hosts": [
                    {
                        "host": BENCH_HOST,
                        "scopes": [{"name": "read", "description": "Read", "tools": ["get"]}],
                        # Unbound tokens are checked exactly as on any host; bound ones
                        # (bench/dpop_cost.py) need it.
                        "dpop": "allowed",
                    }
                ],
                "trustedHostHeaders": "host",
            },
            "tokens": {"verifyCacheSize": cache_size},
            "server": {"logLevel": log_level},
        }
    )


def mint(
    state: Services, count: int, out: IO[str] | None = None, jkt: str | None = None
) -> list[str]:
    """``count`` fresh tokens (distinct ``jti``): returned, or written one per line to ``out``.

    Writing them out keeps them out of the server's memory: the RSS measured is the service's.
    """
    host = state.hosts.get(BENCH_HOST)
    if host is None:
        raise RuntimeError(f"{BENCH_HOST} is not configured")
    ring = state.keys.ring
    now = time.time()
    tokens = []
    for _ in range(count):
        token = mint_access_token(
            ring,
            host,
            IDENTITY,
            scopes=SCOPES,
            client_id="bench-client",
            now=now,
            lifetime=timedelta(hours=1),
            extra_claims=None if jkt is None else {"cnf": {"jkt": jkt}},
        ).token
        if out is None:
            tokens.append(token)
        else:
            out.write(token + "\n")
    return tokens


def reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def _tick(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(TICK_S)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


def _gap_summary(gaps: list[float]) -> dict[str, float]:
    ordered = sorted(gaps) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"ticks": len(gaps), "max_gap_ms": ordered[-1] * 1e3, "p99_gap_ms": p99 * 1e3}


async def _lag(seconds: float | None, work: Awaitable[Any] | None = None) -> list[float]:
    """Gaps between 1 ms ticks while sleeping ``seconds`` or while ``work`` runs."""
    stop = asyncio.Event()
    gaps: list[float] = []
    ticker = asyncio.create_task(_tick(stop, gaps))
    await asyncio.sleep(0.01)
    if work is not None:
        await work
    if seconds is not None:
        await asyncio.sleep(seconds)
    await asyncio.sleep(0.01)
    stop.set()
    await ticker
    return gaps


async def measure_rotation(state: Services, rotations: int, baseline_s: float) -> dict[str, Any]:
    """Per rotation: the loop's largest gap idle for ``baseline_s``, then during one real
    ``KeyManager.rotate()`` (RSA-2048 keygen + ring save), interleaved so noise hits both."""
    keys_before = len(state.keys.ring.verification_keys)
    rounds = []
    for _ in range(rotations):
        idle = await _lag(baseline_s)
        started = time.perf_counter()
        during = await _lag(None, state.keys.rotate())
        rounds.append(
            {
                "idle": _gap_summary(idle),
                "during": _gap_summary(during),
                # Includes the 20 ms of ticking around it.
                "rotation_ms": (time.perf_counter() - started) * 1e3 - 20,
            }
        )
    return {
        "rotations": rotations,
        "rounds": rounds,
        "keys_before": keys_before,
        "keys_after": len(state.keys.ring.verification_keys),
    }


async def commands(server: uvicorn.Server, state: Services, counter: DecodeCounter) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            break
        if line[0] == "stats":
            entries = state.metrics.registry.get_sample_value("mcp_gatekeeper_token_cache_entries")
            reply({"decodes": counter.count, "cache_entries": entries})
        elif line[0] == "bound" and len(line) == 2:
            reply({"token": mint(state, 1, jkt=line[1])[0]})
        elif line[0] == "rotate":
            rotations = int(line[1]) if len(line) > 1 else 3
            baseline = float(line[2]) if len(line) > 2 else 0.5
            reply(await measure_rotation(state, rotations, baseline))
        else:
            reply({"error": f"unknown command {line[0]!r}"})
    server.should_exit = True


async def run(
    server: uvicorn.Server, state: Services, sock: socket.socket, args: argparse.Namespace
) -> None:
    counter = DecodeCounter()
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    if args.pool_file is not None:
        with Path(args.pool_file).open("w") as out:
            mint(state, args.pool, out)
    reply(
        {
            "port": sock.getsockname()[1],
            "pid": os.getpid(),
            "host": BENCH_HOST,
            "cache_size": args.cache_size,
            "cached_token": mint(state, 1)[0],
            "pool_file": args.pool_file,
            "pool_size": args.pool if args.pool_file else 0,
        }
    )
    control = asyncio.create_task(commands(server, state, counter))
    try:
        await serving
    finally:
        control.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-size", type=int, default=256, help="tokens.verifyCacheSize")
    parser.add_argument("--pool", type=int, default=0, help="distinct tokens for the miss path")
    parser.add_argument("--pool-file", help="where to write the pool, one token per line")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.add_argument(
        "--plain-json",
        action="store_true",
        help="read forwarded bodies with plain json.loads (the reader before the strict one)",
    )
    args = parser.parse_args()
    if args.plain_json:
        tool_calls.parse_strict_json = json.loads  # type: ignore[assignment]

    config = build_config(args.cache_size, args.log_level)
    configure_logging(config.server.log_level)
    app = create_app(config)
    state: Services = app.state.services
    # As ``mcp-gatekeeper serve`` runs it: the same protocol, header cap and options.
    uv_config = uvicorn.Config(
        app, lifespan="on", log_level=args.log_level, **uvicorn_options(config)
    )
    server = uvicorn.Server(uv_config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    with asyncio.Runner(loop_factory=uv_config.get_loop_factory()) as runner:
        runner.run(run(server, state, sock, args))


if __name__ == "__main__":
    main()
