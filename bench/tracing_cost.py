"""What tracing costs a cached ``/authenticate`` check: off, on, and the code before tracing.

    python bench/tracing_cost.py [--reps 5] [--checks 20000] [--baseline REV]

Each variant runs in its own interpreter (so "off" proves nothing of the SDK is loaded), one
after the other in every repetition, order rotated: the hot path as the HTTP protocol calls it
(``GatekeeperApp.answer_now``: a request without a body, answered synchronously while parsing),
with one cached bearer token and a gateway ``traceparent``. Variants:

- before: the package as it was at ``--baseline`` (default: the parent of the commit that added
  ``ops/tracing.py``, or HEAD while that is not committed), extracted with ``git archive``;
- off: this tree, no ``tracing:`` section;
- on: this tree, every request sampled, spans batched to an exporter that drops them (the cost
  of the span and its batching, without a collector's network time).

Printed: microseconds per check of each, and the ratios off/before (target 1.00: tracing off
costs nothing) and on/before, medians over the repetitions. Needs the ``tracing`` extra for "on".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "bench.example.test"
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def worker(variant: str, checks: int) -> None:
    """Times ``checks`` cached checks of this interpreter's package; prints microseconds each."""
    from mcp_gatekeeper.config import Config
    from mcp_gatekeeper.main import create_app
    from mcp_gatekeeper.tokens import Identity, mint_access_token

    raw: dict[str, object] = {"proxy": {"hosts": [{"host": HOST}]}}
    options: dict[str, object] = {}
    if variant == "on":
        from opentelemetry.sdk.trace.export import SpanExporter

        from mcp_gatekeeper.ops.otel import OtelTracer

        raw["tracing"] = {"endpoint": "http://127.0.0.1:9"}
        # The base exporter's export does nothing: spans are batched, then dropped.
        options["tracer"] = OtelTracer(Config.model_validate(raw).tracing, SpanExporter())
    app = create_app(Config.model_validate(raw), **options)  # type: ignore[arg-type]

    async def measure() -> float:
        async with app.router.lifespan_context(app):
            services = app.state.services
            host = services.hosts.get(HOST)
            identity = Identity("alice", "alice@example.test", ())
            token = mint_access_token(
                services.keys.ring,
                host,
                identity,
                scopes=(),
                client_id="bench",
                now=time.time(),
                lifetime=timedelta(hours=1),
            ).token
            headers = [
                (b"host", HOST.encode()),
                (b"authorization", b"Bearer " + token.encode()),
                (b"traceparent", TRACEPARENT),
                (b"user-agent", b"bench"),
            ]
            answer_now = app.answer_now  # type: ignore[attr-defined]
            assert answer_now("GET", "/authenticate/mcp", headers, b"").status == 200
            for _ in range(checks // 10):  # warm-up: caches, branch predictors
                answer_now("GET", "/authenticate/mcp", headers, b"")
            started = time.perf_counter()
            for _ in range(checks):
                answer_now("GET", "/authenticate/mcp", headers, b"")
            return (time.perf_counter() - started) / checks * 1e6

    print(json.dumps({"us": asyncio.run(measure())}))


def baseline_revision(asked: str | None) -> str:
    if asked:
        return asked
    added = subprocess.run(
        [
            "git",
            "log",
            "--diff-filter=A",
            "--format=%H",
            "-1",
            "--",
            "app/mcp_gatekeeper/ops/tracing.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"{added}^" if added else "HEAD"


def extract(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "app/mcp_gatekeeper", "templates"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "app"


def run(variant: str, checks: int, source: Path | None) -> float:
    env = dict(os.environ)
    if source is not None:  # ahead of the editable install's path entry
        env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, __file__, "--worker", variant, "--checks", str(checks)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{variant}: {out.stderr.strip()[-2000:]}")
    us: float = json.loads(out.stdout.strip().splitlines()[-1])["us"]
    return us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--baseline", help="git revision of the code before tracing")
    parser.add_argument("--worker", choices=("before", "off", "on"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.checks)
        return
    revision = baseline_revision(args.baseline)
    with tempfile.TemporaryDirectory() as tmp:
        before_source = extract(revision, Path(tmp))
        print(f"before: {revision}; {args.checks} cached checks per run, {args.reps} reps")
        times: dict[str, list[float]] = {"before": [], "off": [], "on": []}
        variants = list(times)
        for rep in range(args.reps):
            order = variants[rep % 3 :] + variants[: rep % 3]
            for variant in order:
                source = before_source if variant == "before" else None
                times[variant].append(run(variant, args.checks, source))
            shown = ", ".join(f"{name} {times[name][-1]:.2f} us" for name in variants)
            print(f"rep {rep + 1}: {shown}", flush=True)
    ratios = {
        name: _median([t / b for t, b in zip(times[name], times["before"], strict=True)])
        for name in ("off", "on")
    }
    medians = ", ".join(f"{name} {_median(values):.2f} us" for name, values in times.items())
    print(f"per cached check (median): {medians}")
    print(f"tracing off / before: {ratios['off']:.3f}x (target: 1.00, within noise)")
    print(f"tracing on  / before: {ratios['on']:.3f}x (every request sampled and batched)")


if __name__ == "__main__":
    main()
