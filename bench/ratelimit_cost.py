"""A cached check on a host with rate limits against the same check on a host without, in process.

    .venv/bin/python bench/ratelimit_cost.py [--reps 30] [--calls 3000]

Two hosts of one service, the same token and the same forwarded ``tools/call`` body; one host
limits requests and tool calls per user, calls of one tool per user and requests per client
(four buckets spent per request, limits high enough that every answer is 200), the other has no
limits. Each request goes through the service's ASGI entry, ``/authenticate`` as the gateway
calls it; HTTP parsing is left out, since over loopback it is most of the cost and its noise
hides a difference of a few percent. Blocks alternate, pinned to one core, in many short
blocks: the fastest block of each is its cost without other processes' noise (the median is
printed too). Nothing here touches the store: reconciliation is a background task, once a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from mcp_gatekeeper.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import config_dict, mint, running

PLAIN, LIMITED = "plain.example.test", "limited.example.test"
SCOPES = [{"name": "files", "tools": ["delete_file", "read_rows"]}]
HIGH = {"limit": 10_000_000, "window": "1s"}
LIMITS = {
    "perUser": {"requests": HIGH, "toolCalls": HIGH, "tools": {"delete_file": HIGH}},
    "perClient": {"requests": HIGH},
}
BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "delete_file", "arguments": {"path": "notes/old.txt"}},
    }
).encode()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--calls", type=int, default=3000)
    return parser.parse_args()


async def measure(app: Any, host: str, token: str, calls: int) -> float:
    """Microseconds per /authenticate through the ASGI app; every answer must be 200."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/authenticate/mcp",
        "raw_path": b"/authenticate/mcp",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": None,
        "headers": [
            (b"host", host.encode()),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(calls):
        await app(scope, receive, send)
    elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        raise SystemExit(f"{host}: answers {sorted(set(statuses))}, not all 200")
    return elapsed / calls * 1e6


async def main() -> None:
    args = arguments()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    hosts = [
        {"host": PLAIN, "scopes": SCOPES},
        {"host": LIMITED, "scopes": SCOPES, "rateLimits": LIMITS},
    ]
    async with running(Config.model_validate(config_dict(hosts=hosts))) as (app, _):
        tokens = {name: mint(app, name, scopes=("files",)) for name in (PLAIN, LIMITED)}
        for name in (PLAIN, LIMITED):
            await measure(app, name, tokens[name], 1000)  # warm: verified, cached, buckets made
        costs: dict[str, list[float]] = {PLAIN: [], LIMITED: []}
        for rep in range(args.reps):
            for name in (PLAIN, LIMITED) if rep % 2 == 0 else (LIMITED, PLAIN):
                costs[name].append(await measure(app, name, tokens[name], args.calls))
    for what, pick in (("fastest", min), ("median", statistics.median)):
        plain, limited = pick(costs[PLAIN]), pick(costs[LIMITED])
        print(
            f"{what} block: rate-limited {limited:.2f} us, plain {plain:.2f} us: "
            f"{limited / plain:.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
