"""A cached ``/authenticate`` on two hosts of one service, in process, side by side.

Each request goes through the service's ASGI entry as the gateway calls it, with a forwarded
``tools/call`` body; HTTP parsing is left out, since over loopback it is most of the cost and its
noise hides a difference of a few percent. Blocks alternate, pinned to one core, in many short
blocks: the machine is shared, so the fastest block of each is its cost without other processes'
noise (the median is printed too).
"""

from __future__ import annotations

import argparse
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

PLAIN = "plain.example.test"


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--calls", type=int, default=3000)
    return parser.parse_args()


def tool_call(name: str, arguments: dict[str, Any]) -> bytes:
    call = {"name": name, "arguments": arguments}
    return json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": call}).encode()


async def measure(app: Any, host: str, token: str, body: bytes, calls: int) -> float:
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
            (b"content-length", str(len(body)).encode()),
        ],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

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


async def compare(
    args: argparse.Namespace,
    plain: dict[str, Any],
    other: dict[str, Any],
    *,
    scopes: tuple[str, ...],
    body: bytes,
    what: str,
    target: str,
    claims: dict[str, Any] | None = None,
) -> None:
    """``other`` (a host entry) against ``plain``; prints the fastest and median ratios."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    names = (plain["host"], other["host"])
    async with running(Config.model_validate(config_dict(hosts=[plain, other]))) as (app, _):
        tokens = {name: mint(app, name, scopes=scopes, extra_claims=claims) for name in names}
        for name in names:
            await measure(app, name, tokens[name], body, 1000)  # warm: verified and cached
        costs: dict[str, list[float]] = {name: [] for name in names}
        for rep in range(args.reps):
            for name in names if rep % 2 == 0 else names[::-1]:
                costs[name].append(await measure(app, name, tokens[name], body, args.calls))
    for block, pick in (("fastest", min), ("median", statistics.median)):
        base, cost = pick(costs[names[0]]), pick(costs[names[1]])
        print(
            f"{block} block: with {what} {cost:.2f} us, without {base:.2f} us: "
            f"{cost / base:.2f}x ({target})"
        )
