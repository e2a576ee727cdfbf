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

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from procs import pin
from side_by_side import CORE, arguments, compare, pinned_service, stopping

GO_SOURCE = Path(__file__).resolve().parent / "go_verifier"


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
    pin(process.pid, {CORE})
    return process, int(line.rsplit(":", 1)[1])


def main() -> int:
    args = arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        binary = build_go_verifier(work)
        with pinned_service(work) as service, stopping() as started:
            jwks = work / "jwks.json"
            jwks.write_text(service.jwks)
            audience = f"https://{service.host}/mcp"
            go_cached, cached_port = start_go(binary, jwks, audience, cache=True)
            started.append(go_cached)
            go_uncached, uncached_port = start_go(binary, jwks, audience, cache=False)
            started.append(go_uncached)
            ours = service.server.port
            contestants = {
                "mcp-gatekeeper": {"cached": ours, "uncached": ours},
                "Go verifier": {"cached": cached_port, "uncached": uncached_port},
            }
            compare(
                service, work, contestants, path="/authenticate",
                reps=args.reps, seconds=args.seconds,
            )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
