"""``/authenticate`` against a Go standard-library verifier, side by side on one core.

    .venv/bin/python bench/versus_go.py [--reps N] [--seconds S]

The reference (``bench/go_verifier``, built here from Debian's golang-go with nothing
downloaded) does what ``/authenticate`` does for a token: RS256 over the first two segments with
the key the ``kid`` names (the service's own JWKS), JSON claims, ``exp`` and ``aud``, a cache of
verified tokens, identity headers on 200. Both servers are pinned to core 0, wrk (``-t1 -c16``)
to the other cores; the same tokens go to both, one cached token, or a pool of 4,096 rotated
through (every request a miss: the service's cache holds 256, the Go verifier's is off). Each
repetition runs every variant once; the ratios are taken inside it and the median reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from loadgen import run_wrk, write_pool_script
from procs import ServerProcess

GO_SOURCE = Path(__file__).resolve().parent / "go_verifier"
SERVER_CORE = 0
POOL = 4096


def build_go_verifier(work: Path) -> Path:
    go = shutil.which("go") or shutil.which("go", path="/usr/lib/go/bin")
    if go is None:
        raise SystemExit("go is not installed (Debian package golang-go)")
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOENV": "off",
        "GOCACHE": str(work / "gocache"),
        "GOPATH": str(work / "gopath"),
        "CGO_ENABLED": "0",
    }
    binary = work / "goverifier"
    subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=GO_SOURCE, env=env, check=True, timeout=600
    )
    return binary


GoProcess = subprocess.Popen[str]


def start_go(binary: Path, jwks: Path, audience: str, *, cache: bool) -> tuple[GoProcess, int]:
    process = subprocess.Popen(
        [str(binary), "-jwks", str(jwks), "-aud", audience, f"-cache={str(cache).lower()}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit(f"the Go verifier did not start: {line!r}")
    os.sched_setaffinity(process.pid, {SERVER_CORE})
    return process, int(line.rsplit(":", 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        raise SystemExit("needs two cores: one for the servers, one for wrk")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        binary = build_go_verifier(work)
        pool_file = work / "pool.txt"
        pool = ("--pool", str(POOL), "--pool-file", str(pool_file))
        ours = ServerProcess("ours", work, "--log-level", "warning", *pool)
        go_processes: list[GoProcess] = []
        try:
            info = ours.wait_ready()
            os.sched_setaffinity(ours.pid, {SERVER_CORE})
            host, token = info["host"], info["cached_token"]
            jwks = work / "jwks.json"
            jwks.write_text(
                httpx.get(
                    f"http://127.0.0.1:{ours.port}/openid/v1/jwks",
                    headers={"Host": host},
                    trust_env=False,
                ).text
            )
            audience = f"https://{host}/mcp"
            go_cached, cached_port = start_go(binary, jwks, audience, cache=True)
            go_uncached, uncached_port = start_go(binary, jwks, audience, cache=False)
            go_processes += [go_cached, go_uncached]
            os.sched_setaffinity(0, cores - {SERVER_CORE})  # wrk, started from here, too
            pool_lua = write_pool_script(
                work / "pool.lua", pool_file, host=host, cached=token, mix=False,
                url_path="/authenticate",
            )  # fmt: skip
            cached_headers = [f"Host: {host}", f"Authorization: Bearer {token}"]
            runs = {
                "ours cached": (ours.port, cached_headers, None),
                "go cached": (cached_port, cached_headers, None),
                "ours uncached": (ours.port, [], pool_lua),
                "go uncached": (uncached_port, [], pool_lua),
            }
            ratios: dict[str, list[float]] = {"cached": [], "uncached": []}
            for rep in range(args.reps):
                rps: dict[str, float] = {}
                for name, (port, headers, script) in runs.items():
                    result = run_wrk(
                        f"http://127.0.0.1:{port}/authenticate",
                        seconds=args.seconds,
                        headers=headers,
                        script=script,
                        connections=16,
                    )
                    if result.non_2xx:
                        raise SystemExit(f"{name}: {result.non_2xx} answers other than 200")
                    rps[name] = result.rps
                for kind in ratios:
                    ratios[kind].append(rps[f"ours {kind}"] / rps[f"go {kind}"])
                print(
                    f"rep {rep + 1}: "
                    + ", ".join(f"{name} {value:7.0f} rps" for name, value in rps.items())
                )
        finally:
            ours.stop()
            for process in go_processes:
                process.terminate()
                process.wait(10)
    for kind, values in ratios.items():
        print(f"{kind}: mcp-gatekeeper / Go verifier, median {statistics.median(values):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
