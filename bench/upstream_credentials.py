"""A cached check that hands over a cached upstream credential, against a plain cached check.

    .venv/bin/python bench/upstream_credentials.py [--rounds 7] [--checks 20000]

In process, through the path the HTTP protocol takes for a bodyless request (``answer_now``):
one cached token for a plain host, and one for a host with ``upstream`` whose user's
credential is cached. Rounds alternate between the two; printed: checks per second of each
(median round) and the cost of the credential over the plain check (plain / upstream). A cached
credential costs a dict lookup and a clock read: no I/O, no await.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mcp_gatekeeper.config import Config
from mcp_gatekeeper.upstream.cache import Credential
from tests.support import FakeClock, mint, running

PLAIN, UPSTREAM = "plain.example.test", "upstream.example.test"
PATH = "/authenticate/mcp"


def _config() -> Config:
    scopes = [{"name": "read", "description": "Read", "tools": ["get"]}]
    upstream = {"source": "login", "name": "GitHub"}
    return Config.model_validate(
        {
            "proxy": {
                "hosts": [
                    {"host": PLAIN, "scopes": scopes},
                    {"host": UPSTREAM, "scopes": scopes, "upstream": upstream},
                ]
            }
        }
    )


def _rate(answer_now: object, headers: list[tuple[bytes, bytes]], checks: int) -> float:
    call = answer_now  # bound once: the loop measures the check, not the lookup
    started = time.perf_counter()
    for _ in range(checks):
        call("GET", PATH, headers, b"")  # type: ignore[operator]
    return checks / (time.perf_counter() - started)


async def main(rounds: int, checks: int) -> None:
    clock = FakeClock(time.time())
    async with running(_config(), clock) as (app, _client):
        immediate = app.immediate  # type: ignore[attr-defined]
        upstream = immediate.answer_at_once.__self__.upstream
        credential = Credential(b"Bearer gho_bench", clock() + 3600, clock() + 3000)
        await upstream.cache.fetch((UPSTREAM, "alice"), lambda: asyncio.sleep(0, credential))
        requests = {}
        for host in (PLAIN, UPSTREAM):
            token = mint(app, host)
            requests[host] = [
                (b"host", host.encode()),
                (b"authorization", f"Bearer {token}".encode()),
            ]
            answer = immediate.answer_now("GET", PATH, requests[host], b"")
            assert answer is not None and answer.status == 200, host
        assert (
            b"gho_bench" in immediate.answer_now("GET", PATH, requests[UPSTREAM], b"").wire_headers
        )
        rates: dict[str, list[float]] = {PLAIN: [], UPSTREAM: []}
        for _ in range(rounds):
            for host in (PLAIN, UPSTREAM):
                rates[host].append(_rate(immediate.answer_now, requests[host], checks))
    plain, with_credential = (statistics.median(rates[host]) for host in (PLAIN, UPSTREAM))
    print(f"plain cached check:                  {plain:10.0f} checks/s")
    print(f"cached check + cached credential:    {with_credential:10.0f} checks/s")
    print(f"cost of the credential (plain / upstream): {plain / with_credential:.3f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--checks", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.checks))
