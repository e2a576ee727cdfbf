"""What the strict JSON reading costs ``/authenticate`` on the body path, side by side.

    .venv/bin/python bench/body_parsing.py

The whole ASGI endpoint runs in process (token cached, as on the hot path) for a forwarded
``tools/call`` body, first with the strict reader the service uses, then with the plain
``json.loads`` it replaced, interleaved over several rounds; the figure is the median ratio.
In process there is no HTTP server around the endpoint, so the parser's share here is larger
than behind uvicorn and a gateway: the ratio is an upper bound. Target: at most 1.05.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import timedelta
from typing import Any

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.forward_auth import tool_calls
from mcp_gatekeeper.main import create_app
from mcp_gatekeeper.state import AppState
from mcp_gatekeeper.tokens import Identity, mint_access_token

HOST = "db.example.test"
ROUNDS, CALLS = 7, 20_000
BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 42,
        "method": "tools/call",
        "params": {
            "name": "query",
            "arguments": {"sql": "select * from orders where id = $1", "params": [7], "limit": 50},
            "_meta": {"progressToken": "p-1"},
        },
    }
).encode()


async def measure(app: Any, scope: dict[str, Any]) -> float:
    """Seconds per request through the endpoint's ASGI entry."""
    sent: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    endpoint = app.router.routes[1].app  # /authenticate/{rest}: the Envoy-style path
    start = time.perf_counter()
    for _ in range(CALLS):
        await endpoint(scope, receive, send)
    elapsed = time.perf_counter() - start
    assert set(sent) == {200}, set(sent)
    return elapsed / CALLS


async def main() -> None:
    config = Config.model_validate(
        {
            "proxy": {
                "hosts": [
                    {"host": HOST, "scopes": [{"name": "db:read", "tools": ["query"]}]},
                ]
            }
        }
    )
    app = create_app(config)
    async with app.router.lifespan_context(app):
        state: AppState = app.state.gatekeeper
        host = state.hosts.hosts[0]
        token = mint_access_token(
            state.keys.ring,
            host,
            Identity("alice", email="alice@example.test"),
            scopes=("db:read",),
            client_id="bench",
            now=time.time(),
            lifetime=timedelta(hours=1),
        ).token
        headers = [
            (b"host", HOST.encode()),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ]
        scope = {"type": "http", "method": "POST", "headers": headers, "query_string": b""}
        strict = tool_calls.parse_strict_json
        ratios, strict_us, plain_us = [], [], []
        for _ in range(ROUNDS):
            tool_calls.parse_strict_json = strict
            with_strict = await measure(app, scope)
            tool_calls.parse_strict_json = json.loads  # type: ignore[assignment]
            with_plain = await measure(app, scope)
            tool_calls.parse_strict_json = strict
            ratios.append(with_strict / with_plain)
            strict_us.append(with_strict * 1e6)
            plain_us.append(with_plain * 1e6)
    print(f"body: {len(BODY)} bytes, {ROUNDS} rounds x {CALLS} requests, cached token")
    print(f"strict reader: {statistics.median(strict_us):.1f} us/request")
    print(f"json.loads:    {statistics.median(plain_us):.1f} us/request")
    ratio = statistics.median(ratios)
    verdict = "PASS" if ratio <= 1.05 else "FAIL"
    print(f"ratio strict / plain (median): {ratio:.3f}  (target <= 1.05: {verdict})")


if __name__ == "__main__":
    asyncio.run(main())
