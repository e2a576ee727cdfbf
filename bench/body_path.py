"""``/authenticate`` with a forwarded body: this version against a baseline, side by side.

    .venv/bin/python bench/body_path.py [--reps N] [--seconds S] [--cpu N] [--before DIR]

Two servers (``bench/server.py``, one uvicorn worker each): this version, and as the baseline
either the same code started with ``--plain-json`` (``json.loads`` instead of the strict reader)
or, with ``--before DIR``, an earlier release installed in DIR (``pip install --no-deps
--target DIR <checkout>``), put first on its ``PYTHONPATH``. wrk (``-t1 -c16``) posts
the same ``tools/call`` body with a cached token to each in turn, the order alternating per
repetition. Two figures per repetition: throughput (strict/plain) and the server's own CPU time
per request (plain/strict, from /proc: what other tenants of a shared machine do to throughput
barely moves it). The medians are reported; the CPU ratio is the verdict.
Target (issue: stricter parsing costs at most 5% on the body path): median ratio >= 0.95.
Exits 1 if it is missed, 2 if the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from body_cost import BODY
from loadgen import run_wrk
from procs import ServerProcess

TARGET = 0.95


def wrk_script(directory: Path) -> Path:
    script = directory / "body.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(BODY.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--before", help="an earlier release installed here is the baseline")
    parser.add_argument(
        "--cpu", type=int, help="pin both servers to this core (wrk keeps the others)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        strict = ServerProcess("strict", work, "--log-level", "warning")
        if args.before:
            os.environ["PYTHONPATH"] = args.before
            plain = ServerProcess("plain", work, "--log-level", "warning")
            del os.environ["PYTHONPATH"]
        else:
            plain = ServerProcess("plain", work, "--log-level", "warning", "--plain-json")
        servers = {"strict": strict, "plain": plain}
        try:
            for server in servers.values():
                server.wait_ready()
                if args.cpu is not None:
                    os.sched_setaffinity(server.pid, {args.cpu})
            script = wrk_script(work)
            ratios: list[float] = []
            cpu_ratios: list[float] = []
            for rep in range(args.reps):
                order = ["strict", "plain"] if rep % 2 == 0 else ["plain", "strict"]
                rps: dict[str, float] = {}
                cpu: dict[str, float] = {}
                for name in order:
                    server = servers[name]
                    before = server.cpu_seconds()
                    if args.cpu is not None:
                        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)) - {args.cpu})
                    result = run_wrk(
                        f"http://127.0.0.1:{server.port}/authenticate/mcp",
                        seconds=args.seconds,
                        headers=[
                            f"Host: {server.info['host']}",
                            f"Authorization: Bearer {server.info['cached_token']}",
                        ],
                        script=script,
                        connections=16,
                    )
                    if result.non_2xx or result.socket_errors:
                        print(f"{name}: {result.non_2xx} non-2xx answers", file=sys.stderr)
                        return 2
                    rps[name] = result.rps
                    cpu[name] = (server.cpu_seconds() - before) / result.requests
                ratios.append(rps["strict"] / rps["plain"])
                cpu_ratios.append(cpu["plain"] / cpu["strict"])
                print(
                    f"rep {rep + 1}: strict {rps['strict']:6.0f} rps {cpu['strict'] * 1e6:5.1f} us"
                    f" cpu/req, plain {rps['plain']:6.0f} rps {cpu['plain'] * 1e6:5.1f} us"
                    f" cpu/req; throughput {ratios[-1]:.3f}, cpu {cpu_ratios[-1]:.3f}"
                )
        finally:
            for server in servers.values():
                server.stop()
    ratio = statistics.median(cpu_ratios)
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"median throughput strict/plain: {statistics.median(ratios):.3f}")
    print(f"median cpu per request plain/strict: {ratio:.3f} (target >= {TARGET}: {verdict})")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
