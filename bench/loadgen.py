"""Load generators: wrk (closed loop), hey (fixed rate), sequential http.client; output parsers."""

from __future__ import annotations

import http.client
import math
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WRK = "/usr/bin/wrk"
HEY = "/usr/bin/hey"

_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an unsorted sequence."""
    ordered = sorted(values)
    rank = math.ceil(round(fraction * len(ordered), 9))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# --- wrk -----------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_wrk(output: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if done is None or rps is None:
        raise ValueError(f"cannot parse wrk output:\n{output}")
    latency = {
        pct: float(value) * _UNITS_MS[unit]
        for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(done.group(1)),
        seconds=float(done.group(2)) * _UNITS_MS[done.group(3)] / 1e3,
        rps=float(rps.group(1)),
        p50_ms=latency.get("50", float("nan")),
        p99_ms=latency.get("99", float("nan")),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def run_wrk(
    url: str,
    *,
    seconds: int,
    headers: Sequence[str] = (),
    script: Path | None = None,
    connections: int = 64,
    threads: int = 1,
) -> WrkResult:
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    command += ["--latency"]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return parse_wrk(done.stdout)


WRK_POOL_SCRIPT = """\
-- Every request carries the next token of a pool much larger than the verify cache, starting at
-- a random place: the cache (LRU) never holds the token asked for, so every request verifies.
local tokens = {{}}
for line in io.lines("{tokens}") do tokens[#tokens + 1] = line end
local host, cached = "{host}", "{cached}"
local mix = {mix}
local requests, pos, n = {{}}, 0, 0
local fixed = {{}}

function init(args)
  for i, token in ipairs(tokens) do
    requests[i] = wrk.format("GET", "{path}", {{Host = host, Authorization = "Bearer " .. token}})
  end
  fixed[1] = wrk.format("GET", "{path}", {{Host = host, Authorization = "Bearer " .. cached}})
  fixed[2] = wrk.format("GET", "{path}", {{Host = host}})
  math.randomseed(os.time() + os.clock() * 1e6)
  pos = math.random(#tokens)
end

function request()
  n = n + 1
  -- mix: one request in three each cached / uncached / no token (401)
  if mix and n % 3 == 0 then return fixed[1] end
  if mix and n % 3 == 2 then return fixed[2] end
  pos = pos % #tokens + 1
  return requests[pos]
end
"""


def write_pool_script(
    path: Path, tokens_file: Path, *, host: str, cached: str, mix: bool, url_path: str
) -> Path:
    path.write_text(
        WRK_POOL_SCRIPT.format(
            tokens=tokens_file,
            host=host,
            cached=cached,
            mix="true" if mix else "false",
            path=url_path,
        )
    )
    return path


# --- hey -----------------------------------------------------------------------------------


@dataclass
class HeyResult:
    offered_rps: int
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    slowest_ms: float
    statuses: dict[str, int]
    errors: int
    #: CPU share of processes outside the benchmark meanwhile (filled in by the caller).
    background_pct: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_hey(output: str, offered_rps: int) -> HeyResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    slowest = re.search(r"Slowest:\s+([\d.]+) secs", output)
    if rps is None:
        raise ValueError(f"cannot parse hey output:\n{output}")
    latency = {
        pct: float(value) * 1e3
        for pct, value in re.findall(r"^\s+(\d+)%+ in ([\d.]+) secs", output, re.M)
    }
    statuses = {
        code: int(n) for code, n in re.findall(r"^\s+\[(\d{3})\]\s+(\d+) responses", output, re.M)
    }
    errors = 0
    if "Error distribution:" in output:
        tail = output.split("Error distribution:", 1)[1]
        errors = sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]", tail, re.M))
    return HeyResult(
        offered_rps=offered_rps,
        requests=sum(statuses.values()),
        rps=float(rps.group(1)),
        p50_ms=latency.get("50", float("nan")),
        p90_ms=latency.get("90", float("nan")),
        p99_ms=latency.get("99", float("nan")),
        slowest_ms=float(slowest.group(1)) * 1e3 if slowest else float("nan"),
        statuses=statuses,
        errors=errors,
    )


def run_hey(
    url: str, *, seconds: int, rate: int, host: str, headers: Sequence[str] = (), workers: int = 20
) -> HeyResult:
    command = [HEY, "-z", f"{seconds}s", "-c", str(workers), "-q", str(rate // workers)]
    command += ["-host", host]
    for header in headers:
        command += ["-H", header]
    command.append(url)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"hey failed ({done.returncode}): {done.stderr}{done.stdout}")
    return parse_hey(done.stdout, rate)


# --- sequential keep-alive latency ---------------------------------------------------------


@dataclass
class SeqResult:
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sequential(
    port: int,
    path: str,
    headers_for: Callable[[int], dict[str, str]],
    *,
    warmup: int,
    count: int,
) -> SeqResult:
    """One keep-alive connection, one request at a time; client-side time per request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    samples: list[float] = []
    statuses: dict[str, int] = {}
    try:
        for i in range(warmup + count):
            headers = headers_for(i)
            started = time.perf_counter_ns()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter_ns() - started
            if i >= warmup:
                samples.append(elapsed / 1e6)
                key = str(response.status)
                statuses[key] = statuses.get(key, 0) + 1
    finally:
        conn.close()
    return SeqResult(
        requests=count,
        p50_ms=percentile(samples, 0.50),
        p90_ms=percentile(samples, 0.90),
        p99_ms=percentile(samples, 0.99),
        max_ms=max(samples),
        statuses=statuses,
    )


def probe(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()
