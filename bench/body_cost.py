"""Instructions per ``/authenticate`` request with a forwarded body, counted by valgrind.

    .venv/bin/python bench/body_cost.py [--before DIR] [--requests N]

On a shared machine wall-clock figures swing by ±20% between repetitions (``body_path.py``
shows it); instruction counts do not. Each variant runs the whole app in process (middleware,
routing, the endpoint; no HTTP server) for N and for 3N requests under ``valgrind
--tool=callgrind``; the difference divided by 2N is its cost per request, start-up excluded.
Variants: this version; the same with plain ``json.loads`` instead of the strict reader; and,
with ``--before DIR``, an earlier release installed there (``pip install --no-deps --target``).
The denominator leaves out uvicorn and the gateway hop, so the ratio overstates the share the
reader has of a real request. Target: this version costs at most 5% more than the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any

BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 42,
        "method": "tools/call",
        "params": {
            "name": "get",
            "arguments": {"sql": "select * from orders where id = $1", "params": [7], "limit": 50},
            "_meta": {"progressToken": "p-1"},
        },
    },
    separators=(",", ":"),
).encode()
HOST = "bench.example.test"


def make_keys(path: Path) -> None:
    """RSA keys made once, outside valgrind: key generation's cost varies run to run."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pems = [
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for _ in range(3)
    ]
    path.write_text(json.dumps([pem.decode() for pem in pems]))


async def serve(requests: int, plain: bool, keys_file: Path) -> None:
    """The measured program: ``requests`` body-path requests through the whole app."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from mcp_gatekeeper.config import Config
    from mcp_gatekeeper.keys.signing_key import SigningKey
    from mcp_gatekeeper.main import create_app
    from mcp_gatekeeper.services import Services
    from mcp_gatekeeper.tokens import Identity, mint_access_token

    if plain:
        from mcp_gatekeeper.forward_auth import tool_calls

        tool_calls.parse_strict_json = json.loads  # type: ignore[assignment]
    scopes = [{"name": "read", "tools": ["get"]}]
    config = Config.model_validate({"proxy": {"hosts": [{"host": HOST, "scopes": scopes}]}})
    pool = [
        serialization.load_pem_private_key(pem.encode(), password=None)
        for pem in json.loads(keys_file.read_text())
    ]
    drawn = iter(range(1_000_000))

    def generate_key(now: float) -> SigningKey:
        key = pool[next(drawn) % len(pool)]
        assert isinstance(key, rsa.RSAPrivateKey)
        return SigningKey.from_private_key(key, now)

    app = create_app(config, generate_key=generate_key)
    async with app.router.lifespan_context(app):
        state: Services = app.state.services
        token = mint_access_token(
            state.keys.ring,
            state.hosts.hosts[0],
            Identity("alice", email="alice@example.test"),
            scopes=("read",),
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
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/authenticate/mcp",
            "raw_path": b"/authenticate/mcp",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
        }
        statuses: set[int] = set()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.add(message["status"])

        for _ in range(requests):
            await app(scope, receive, send)
        if statuses != {200}:
            raise SystemExit(f"unexpected answers: {statuses}")


def instructions(requests: int, plain: bool, before: str | None, work: Path) -> int:
    out = work / f"callgrind-{requests}-{plain}-{bool(before)}.out"
    env = dict(os.environ, PYTHONHASHSEED="0")
    if before:
        env["PYTHONPATH"] = before
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable]
    command += [__file__, "--run", str(requests), "--keys", str(work / "keys.json")]
    command += ["--plain-json"] if plain else []
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=1800)
    totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if totals is None:
        raise RuntimeError(f"no totals in {out}")
    return int(totals.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="an earlier release installed in this directory")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--plain-json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keys", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:
        asyncio.run(serve(args.run, args.plain_json, args.keys))
        return 0
    variants: dict[str, tuple[bool, str | None]] = {"this": (False, None), "plain": (True, None)}
    if args.before:
        variants["before"] = (False, args.before)
    n = args.requests
    per_request: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        make_keys(Path(tmp) / "keys.json")
        for name, (plain, before) in variants.items():
            low = instructions(n, plain, before, Path(tmp))
            high = instructions(3 * n, plain, before, Path(tmp))
            per_request[name] = (high - low) / (2 * n)
            print(f"{name:7s} {per_request[name]:12,.0f} instructions per request")
    worst = 1.0
    for baseline in [name for name in per_request if name != "this"]:
        ratio = per_request["this"] / per_request[baseline]
        worst = max(worst, ratio)
        print(f"this / {baseline}: {ratio:.3f}")
    verdict = "PASS" if worst <= 1.05 else "FAIL"
    print(f"target: at most 1.05 against every baseline: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
