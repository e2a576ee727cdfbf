"""Does ``server.workers: 2`` scale? CPU per ``/authenticate`` with one worker and with two.

    .venv/bin/python bench/workers.py [--quick] [--reps N] [--seconds S] [--no-profile] [--py-spy P]

Three ``mcp-gatekeeper serve`` processes, started as operators start them (console script,
``--config FILE --port PORT``), each with its own sqlite store (``store.url: sqlite:///...``,
an encryption key) and one host, ``bench.example.test`` (``trustedHostHeaders: host``):

- ``1w``: ``server.workers: 1``, no ``PROMETHEUS_MULTIPROC_DIR`` (the one-worker default: metrics
  in the process's own registry). This is the one-worker figure of the verdict.
- ``1w+mp``: the same with ``PROMETHEUS_MULTIPROC_DIR`` set (metrics in per-process mmap files,
  as several workers need); its difference to ``1w`` is what the multiprocess metrics mode costs.
- ``2w``: ``server.workers: 2`` (uvicorn's supervisor plus two spawned workers; multiprocess
  metrics, which several workers always use).

There is no minting endpoint: once a service is ready this script opens the same sqlite store
with the library, reads and unseals the shared key ring (``keys/shared_ring.py``) and mints an
access token with ``mint_access_token``; one request to ``/authenticate/mcp`` with that token must
answer 200 before anything is measured.

The machine has 2 cores and wrk needs one of them, so two workers cannot each have a core while
wrk runs: raw rps would understate the scaling. Instead the figure is CPU per request. Each run is
``wrk -t1 -c16`` with the one (cached, verify-cache hit) token for a few seconds; the service's
CPU (``/proc/<pid>/stat`` utime+stime of the ``serve`` process and all its descendants) over the
run, divided by wrk's request count, is ``c1`` (``1w``) and ``c2`` (``2w``, workers and supervisor
summed). Two workers, each with its own core, then serve ``2 / c2`` requests per CPU-second
against ``1 / c1`` for one: the scaling is ``2 * c1 / c2``. Each repetition runs the three
variants once (order rotated per repetition, 1 s warm-up each before the first); the ratio is taken
inside a repetition and the median over repetitions is the figure (target >= 1.8). The raw rps of
each run is printed too, for information only (wrk shares the cores). "bg" is the share of the
machine's CPU that processes other than the service under test and wrk used meanwhile.

The kernel hands wrk's 16 connections to whichever worker accepts first, and one event loop may
accept them all: the per-repetition line shows each worker's share of the CPU. "With this split"
is the scaling that split allows (``c1`` / the busiest worker's CPU per request), informational.

Per variant it also prints the system (kernel) part of the CPU per request and the context
switches per request (voluntary: the event loop waited for events, i.e. it was not saturated).

If the median ``c2`` is more than 10% above ``c1``, the busiest worker of ``2w`` and the ``1w``
process are profiled with py-spy under the same load: ``-f raw`` at 500 Hz non-blocking (Python
frames), then ``--native`` at 200 Hz (C frames too: libc system calls, uvloop; blocking mode).
Samples of the event loop's thread, its idle waits left out, are turned into µs per request
(share of samples x the process's CPU per request) and the functions (self time) costing the
most in the worker, and costing more there than in ``1w``, are named.

Prints one line per repetition, then ``workers scaling 2x/1x (cpu per request): X.XXx (target
>= 1.8: PASS|FAIL)``; writes ``bench/results/workers.json``. Exits 0 on PASS, 1 on FAIL, 2 if the
benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import yaml
from cryptography.fernet import Fernet
from loadgen import WrkResult, median, run_wrk
from procs import (
    BENCH_DIR,
    CLK_TCK,
    cpu_seconds,
    free_port,
    system_busy_seconds,
    wait_for_port,
)

from mcp_gatekeeper.config import load_config
from mcp_gatekeeper.hosts import HostRegistry
from mcp_gatekeeper.keys.shared_ring import SharedRing
from mcp_gatekeeper.store.factory import encryption_for, open_store
from mcp_gatekeeper.tokens import Identity, mint_access_token

RESULTS = BENCH_DIR / "results" / "workers.json"
BENCH_HOST = "bench.example.test"
URL_PATH = "/authenticate/mcp"
IDENTITY = Identity("bench-user", "bench-user@example.test", ("eng", "ops"))
SCOPES = ("read",)
CONNECTIONS = 16
TARGET = 1.8
PROFILE_THRESHOLD = 1.10
#: py-spy: ``--py-spy``, else on PATH, else the tools venv under $TMPDIR.
PY_SPY_DEFAULT = shutil.which("py-spy") or str(
    Path(tempfile.gettempdir()) / "venv-tools" / "bin" / "py-spy"
)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Variant:
    name: str
    workers: int
    multiproc: bool


VARIANTS = (Variant("1w", 1, False), Variant("1w+mp", 1, True), Variant("2w", 2, True))


def serve_command() -> list[str]:
    """``mcp-gatekeeper serve`` as installed: next to this interpreter, else the project venv."""
    for candidate in (
        Path(sys.executable).parent / "mcp-gatekeeper",
        BENCH_DIR.parent / ".venv" / "bin" / "mcp-gatekeeper",
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate), "serve"]
    found = shutil.which("mcp-gatekeeper")
    if found is None:
        raise RuntimeError("no mcp-gatekeeper console script found")
    return [found, "serve"]


def descendants(pid: int) -> list[int]:
    """``pid``'s children, grandchildren, ... (from ``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for child in children.read_text().split():
                    found.append(int(child))
                    pending.append(int(child))
    return found


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def tree_cpu(pids: list[int]) -> dict[int, float]:
    cpu: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            cpu[pid] = cpu_seconds(pid)
    return cpu


@dataclass(frozen=True)
class ProcTimes:
    """What a process used so far: CPU seconds (user + system), system CPU seconds, and how
    often it gave up the CPU (voluntary: waiting for events) or lost it (involuntary)."""

    cpu: float = 0.0
    system: float = 0.0
    voluntary: int = 0
    involuntary: int = 0

    def __sub__(self, other: ProcTimes) -> ProcTimes:
        return ProcTimes(
            self.cpu - other.cpu,
            self.system - other.system,
            self.voluntary - other.voluntary,
            self.involuntary - other.involuntary,
        )


def proc_times(pid: int) -> ProcTimes:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return ProcTimes(
        cpu=cpu_seconds(pid),
        system=int(fields[12]) / CLK_TCK,
        voluntary=int(status["voluntary_ctxt_switches"]),
        involuntary=int(status["nonvoluntary_ctxt_switches"]),
    )


def tree_times(pids: list[int]) -> dict[int, ProcTimes]:
    times: dict[int, ProcTimes] = {}
    for pid in pids:
        with contextlib.suppress(OSError, KeyError, ValueError):
            times[pid] = proc_times(pid)
    return times


async def _read_ring_and_mint(config_path: Path) -> str:
    config = load_config(config_path, environ={})
    store = open_store(config.store)
    # The ttl only matters for writes; this reads the ring the service wrote.
    shared = SharedRing(store, encryption_for(config.store), ttl=0.0)
    try:
        sealed = await shared.read()
    finally:
        await store.close()
    if sealed is None:
        raise RuntimeError(f"no key ring in {config.store.url}")
    ring = shared.open(sealed)
    host = HostRegistry(config).get(BENCH_HOST)
    if host is None:
        raise RuntimeError(f"{BENCH_HOST} is not configured")
    issued = mint_access_token(
        ring,
        host,
        IDENTITY,
        scopes=SCOPES,
        client_id="bench-client",
        now=time.time(),
        lifetime=timedelta(hours=1),
    )
    return issued.token


def mint_from_store(config_path: Path) -> str:
    return asyncio.run(_read_ring_and_mint(config_path))


@dataclass
class Service:
    """One ``mcp-gatekeeper serve`` process (and its workers) on a sqlite store of its own."""

    variant: Variant
    workdir: Path
    encryption_key: str
    port: int = 0
    token: str = ""
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / f"{self.variant.name}.yaml"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.variant.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{URL_PATH}"

    @property
    def headers(self) -> list[str]:
        return [f"Host: {BENCH_HOST}", f"Authorization: Bearer {self.token}"]

    def write_config(self) -> None:
        config = {
            "proxy": {
                "hosts": [
                    {
                        "host": BENCH_HOST,
                        "scopes": [{"name": "read", "description": "Read", "tools": ["get"]}],
                    }
                ],
                "trustedHostHeaders": "host",
            },
            "server": {
                "host": "127.0.0.1",
                "workers": self.variant.workers,
                "logLevel": "warning",
            },
            "store": {
                "url": f"sqlite://{self.workdir / (self.variant.name + '.db')}",
                "encryptionKey": self.encryption_key,
            },
        }
        self.config_path.write_text(yaml.safe_dump(config))

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != MULTIPROC_ENV}
        env = {key: value for key, value in env.items() if not key.startswith("MCP_GATEKEEPER_")}
        if self.variant.multiproc:
            env[MULTIPROC_ENV] = str(self.workdir / f"{self.variant.name}-metrics")
        return env

    def start(self) -> None:
        self.write_config()
        last_error: Exception | None = None
        for _ in range(3):  # a free port may be taken before the service binds it
            self.port = free_port()
            self._log = self.log_path.open("ab")
            command = [*serve_command(), "--config", str(self.config_path)]
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                stdout=self._log,
                stderr=self._log,
                env=self.environment(),
            )
            try:
                self._wait_ready()
                break
            except (RuntimeError, TimeoutError) as exc:
                last_error = exc
                self.stop()
        else:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.variant.name} did not start: {last_error}\n{tail}")
        self.token = mint_from_store(self.config_path)
        self._check_token()

    def _wait_ready(self) -> None:
        assert self.process is not None
        wait_for_port(self.port, self.process, START_TIMEOUT)
        deadline = time.monotonic() + START_TIMEOUT
        ready = f"http://127.0.0.1:{self.port}/readyz"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready, timeout=1.0, trust_env=False).status_code == 200:
                    if len(self.worker_pids()) == self.variant.workers:
                        return
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {START_TIMEOUT:.0f}s")
            time.sleep(0.05)

    def _check_token(self) -> None:
        headers = {"host": BENCH_HOST, "authorization": f"Bearer {self.token}"}
        response = httpx.get(self.url, headers=headers, timeout=5.0, trust_env=False)
        if response.status_code != 200:
            raise RuntimeError(
                f"{self.variant.name}: {URL_PATH} with the minted token answered "
                f"{response.status_code}: {response.text[:200]}"
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def pids(self) -> list[int]:
        """The ``serve`` process and everything it started."""
        return [self.pid, *descendants(self.pid)]

    def worker_pids(self) -> list[int]:
        """The processes serving requests: ``serve`` itself with one worker, else its spawned
        children (uvicorn's supervisor only watches them)."""
        if self.variant.workers == 1:
            return [self.pid]
        return [pid for pid in descendants(self.pid) if "spawn_main" in cmdline(pid)]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # graceful: uvicorn stops the workers, lifespan included
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Run:
    variant: str
    rps: float
    requests: int
    cpu_s: float
    #: CPU per request, µs: the service's processes summed.
    us_per_request: float
    #: Of which system (kernel) time, µs per request.
    sys_us_per_request: float
    #: Context switches per request, all service processes: voluntary (the event loop waited
    #: for the next event) and involuntary (preempted).
    voluntary_per_request: float
    involuntary_per_request: float
    #: CPU seconds of each serving worker, and of the supervisor (2 workers; 0 otherwise).
    worker_cpu_s: list[float] = field(default_factory=list)
    supervisor_cpu_s: float = 0.0
    wrk_cpu_s: float = 0.0
    #: Share of the machine used by everything else (not the service, not wrk).
    background: float = 0.0

    @property
    def busiest_us_per_request(self) -> float:
        """The busiest worker's CPU over all requests: with each worker on a core it saturates
        first, so ``c1`` / this is the scaling under the connection split observed."""
        return max(self.worker_cpu_s, default=self.cpu_s) / self.requests * 1e6


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(service: Service, seconds: int) -> Run:
    pids = service.pids()
    cpus = os.cpu_count() or 1
    before, busy_before, wrk_before = tree_times(pids), system_busy_seconds(), children_cpu()
    started = time.monotonic()
    result = run_wrk(
        service.url,
        seconds=seconds,
        headers=service.headers,
        connections=CONNECTIONS,
        threads=1,
    )
    elapsed = time.monotonic() - started
    after = tree_times(service.pids())
    busy_after, wrk_after = system_busy_seconds(), children_cpu()
    check(service, result)
    changes = {pid: after[pid] - before.get(pid, ProcTimes()) for pid in after}
    delta = {pid: change.cpu for pid, change in changes.items()}
    cpu = sum(delta.values())
    workers = service.worker_pids()
    wrk_cpu = wrk_after - wrk_before
    busy = busy_after - busy_before
    return Run(
        variant=service.variant.name,
        rps=result.rps,
        requests=result.requests,
        cpu_s=cpu,
        us_per_request=cpu / result.requests * 1e6,
        sys_us_per_request=sum(c.system for c in changes.values()) / result.requests * 1e6,
        voluntary_per_request=sum(c.voluntary for c in changes.values()) / result.requests,
        involuntary_per_request=sum(c.involuntary for c in changes.values()) / result.requests,
        worker_cpu_s=[delta.get(pid, 0.0) for pid in workers],
        supervisor_cpu_s=delta.get(service.pid, 0.0) if service.variant.workers > 1 else 0.0,
        wrk_cpu_s=wrk_cpu,
        background=max(0.0, busy - cpu - wrk_cpu) / (elapsed * cpus),
    )


def check(service: Service, result: WrkResult) -> None:
    if result.non_2xx or result.socket_errors or result.requests == 0:
        raise RuntimeError(
            f"{service.variant.name}: {result.requests} requests, {result.non_2xx} non-2xx, "
            f"{result.socket_errors} socket errors"
        )


def describe(run: Run) -> str:
    text = (
        f"{run.variant} {run.rps:6.0f} rps {run.us_per_request:5.1f} us/req"
        f" (sys {run.sys_us_per_request:4.1f})"
    )
    if len(run.worker_cpu_s) > 1:
        total = sum(run.worker_cpu_s) or 1.0
        shares = "/".join(f"{100 * cpu / total:.0f}" for cpu in run.worker_cpu_s)
        supervisor = run.supervisor_cpu_s / run.requests * 1e6
        text += f" (workers {shares}%, supervisor {supervisor:.1f} us/req)"
    return text


# --- py-spy --------------------------------------------------------------------------------

FRAME_LINE = re.compile(r":\d+\)$")
IDLE_LEAVES = ("epoll_wait ", "epoll_pwait ")
#: In every stack of the thread running the event loop (uvicorn runs it in ``asyncio.Runner``).
MAIN_THREAD = "asyncio/runners.py"


def busiest(pids: list[int], window: float = 0.5) -> int:
    """The process using the most CPU over ``window`` seconds (a worker that has connections:
    wrk's connections are not always spread over both workers)."""
    before = tree_cpu(pids)
    time.sleep(window)
    after = tree_cpu(pids)
    return max(pids, key=lambda pid: after.get(pid, 0.0) - before.get(pid, 0.0))


def profile(
    py_spy: Path, service: Service, seconds: int, raw: Path, *, native: bool = False
) -> tuple[Run, Path]:
    """py-spy on the busiest worker while wrk loads ``service``; the run measured meanwhile.

    ``native``: C frames too (uvloop, libc, the kernel entry points), which py-spy can only
    sample by pausing the process (blocking mode, 200 Hz)."""
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(measure, service, seconds + 2)
        time.sleep(1.0)
        pid = busiest(service.worker_pids())
        rate = "200" if native else "500"
        command = [str(py_spy), "record", "-r", rate, "-d", str(seconds), "-p", str(pid)]
        command += ["-f", "raw", "-o", str(raw), "--native" if native else "--nonblocking"]
        spy = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        run = running.result()
    if spy.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {spy.stderr[-1000:]}")
    return run, raw


def self_time(raw: Path) -> tuple[collections.Counter[str], int]:
    """Samples per function (innermost frame, line number dropped) of the event loop's thread
    while not waiting for events, and their total."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        if MAIN_THREAD not in stack:
            # Other threads: in a 2w worker uvicorn's health-check thread, blocked in read() on
            # its pipe, which blocking (native) mode samples as if it ran.
            continue
        leaf = FRAME_LINE.sub(")", stack.split(";")[-1])
        if leaf.startswith(IDLE_LEAVES):
            continue  # the loop waiting for events (blocking mode samples idle threads too)
        total += samples
        counts[leaf] += samples
    return counts, total


def short(frame: str) -> str:
    """``name (/long/path/site-packages/pkg/mod.py)`` -> ``name (pkg/mod.py)``."""
    name, _, path = frame.partition(" (")
    path = path.rstrip(")")
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


@dataclass
class ProfileRow:
    name: str
    us_1w: float
    us_2w: float

    @property
    def extra_us(self) -> float:
        return self.us_2w - self.us_1w

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "extra_us": self.extra_us}


def per_request(
    counts1: collections.Counter[str], per1: float, counts2: collections.Counter[str], per2: float
) -> list[ProfileRow]:
    total1, total2 = max(sum(counts1.values()), 1), max(sum(counts2.values()), 1)
    return [
        ProfileRow(name, counts1[name] / total1 * per1, counts2[name] / total2 * per2)
        for name in set(counts1) | set(counts2)
    ]


def compare_profiles(
    title: str, one: tuple[Run, Path], two: tuple[Run, Path], top: int
) -> dict[str, list[dict[str, Any]]]:
    """Per-request µs of each function: its share of the samples x the process's CPU per request.

    For the ``2w`` worker, its CPU per request is the workers' CPU over all requests (both
    workers serve the same kind of requests the same way)."""
    (run1, raw1), (run2, raw2) = one, two
    per1 = run1.us_per_request
    per2 = sum(run2.worker_cpu_s) / run2.requests * 1e6
    counts1, total1 = self_time(raw1)
    counts2, total2 = self_time(raw2)
    functions = per_request(counts1, per1, counts2, per2)
    by_file1: collections.Counter[str] = collections.Counter()
    by_file2: collections.Counter[str] = collections.Counter()
    for counts, by_file in ((counts1, by_file1), (counts2, by_file2)):
        for name, samples in counts.items():
            by_file[short(name).partition(" (")[2].rstrip(")")] += samples
    files = per_request(by_file1, per1, by_file2, per2)
    print(
        f"py-spy {title} (self time, us per request): 1w process {per1:.1f} us/req "
        f"({total1} samples), one 2w worker {per2:.1f} us/req ({total2} samples)"
    )
    top_2w = sorted(functions, key=lambda row: -row.us_2w)[:top]
    extra = sorted(functions, key=lambda row: -row.extra_us)[:top]
    extra_files = sorted(files, key=lambda row: -row.extra_us)[: top // 2]
    print("  top functions in the 2w worker:  2w    (1w)")
    for row in top_2w:
        print(f"    {row.us_2w:6.2f} ({row.us_1w:5.2f})  {short(row.name)}")
    print("  functions costing more in the 2w worker than in 1w:")
    for row in extra:
        print(f"    {row.extra_us:+6.2f}  {short(row.name)}")
    print("  files costing more in the 2w worker than in 1w:")
    for row in extra_files:
        print(f"    {row.extra_us:+6.2f}  {row.name}")
    return {
        "top_2w": [row.to_dict() for row in top_2w],
        "extra_in_2w": [row.to_dict() for row in extra],
        "extra_files_in_2w": [row.to_dict() for row in extra_files],
    }


# --- driver --------------------------------------------------------------------------------


@contextlib.contextmanager
def services(workdir: Path) -> Iterator[dict[str, Service]]:
    key = Fernet.generate_key().decode()
    started: dict[str, Service] = {}
    try:
        for variant in VARIANTS:
            service = Service(variant, workdir, key)
            started[variant.name] = service
            service.start()
            pids = service.worker_pids()
            print(
                f"{variant.name}: processes {service.pids()}, serving {pids}, "
                f"{MULTIPROC_ENV} {'set' if variant.multiproc else 'unset'}, token check 200"
            )
        yield started
    finally:
        for service in started.values():
            service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions of 2 s")
    parser.add_argument("--reps", type=int, default=9, help="repetitions (default 9)")
    parser.add_argument("--seconds", type=int, default=3, help="seconds per run (default 3)")
    parser.add_argument("--no-profile", action="store_true", help="never run py-spy")
    parser.add_argument("--py-spy", type=Path, default=Path(PY_SPY_DEFAULT), help="py-spy binary")
    args = parser.parse_args()
    reps, seconds = (3, 2) if args.quick else (args.reps, args.seconds)
    report: dict[str, Any] = {"reps": reps, "seconds": seconds, "cpus": os.cpu_count()}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp,
            services(Path(tmp)) as running,
        ):
            order = [running[variant.name] for variant in VARIANTS]
            for service in order:
                measure(service, 1)  # warm-up: connections, verify cache, both workers up
            runs: list[dict[str, Run]] = []
            scaling: list[float] = []
            split: list[float] = []
            print(f"wrk -t1 -c{CONNECTIONS} -d{seconds}s {URL_PATH}, cached token; {reps} reps")
            for rep in range(reps):
                shift = rep % len(order)
                results = {
                    s.variant.name: measure(s, seconds) for s in order[shift:] + order[:shift]
                }
                runs.append(results)
                c1, c1mp, c2 = (results[v.name].us_per_request for v in VARIANTS)
                scaling.append(2 * c1 / c2)
                split.append(c1 / results["2w"].busiest_us_per_request)
                background = max(run.background for run in results.values())
                print(
                    f"rep {rep + 1}: "
                    + " | ".join(describe(results[v.name]) for v in VARIANTS)
                    + f" | scaling {scaling[-1]:.2f}x (vs 1w+mp {2 * c1mp / c2:.2f}x,"
                    + f" with this split {split[-1]:.2f}x)"
                    + f" | bg {100 * background:.0f}%"
                )
            med = {v.name: median([rep[v.name].us_per_request for rep in runs]) for v in VARIANTS}
            mp_cost = median(
                [rep["1w+mp"].us_per_request - rep["1w"].us_per_request for rep in runs]
            )
            scaling_mp = median(
                [2 * rep["1w+mp"].us_per_request / rep["2w"].us_per_request for rep in runs]
            )
            result = median(scaling)
            report["runs"] = [{name: asdict(run) for name, run in rep.items()} for rep in runs]
            report["median_us_per_request"] = med
            report["multiproc_cost_us_per_request"] = mp_cost
            report["scaling"] = result
            report["scaling_vs_1w_multiproc"] = scaling_mp
            report["scaling_with_observed_split"] = median(split)
            print(
                f"median CPU per request: 1w {med['1w']:.1f} us, 1w+mp {med['1w+mp']:.1f} us, "
                f"2w {med['2w']:.1f} us (c2/c1 {med['2w'] / med['1w']:.2f})"
            )
            print(
                f"multiprocess metrics mode, 1 worker: {mp_cost:+.1f} us/req "
                f"({100 * mp_cost / med['1w']:+.0f}%); scaling vs 1w+mp: {scaling_mp:.2f}x"
            )
            for v in VARIANTS:
                print(
                    f"  {v.name}: median sys "
                    f"{median([rep[v.name].sys_us_per_request for rep in runs]):.1f} us/req, "
                    "context switches per request: voluntary "
                    f"{median([rep[v.name].voluntary_per_request for rep in runs]):.3f}, "
                    "involuntary "
                    f"{median([rep[v.name].involuntary_per_request for rep in runs]):.3f}"
                )
            print(
                f"with wrk's connections split between the workers as observed, the busiest "
                f"worker limits the scaling to {median(split):.2f}x (median; informational)"
            )
            print(
                "median rps (informational, wrk shares the cores): "
                + ", ".join(
                    f"{v.name} {median([rep[v.name].rps for rep in runs]):.0f}" for v in VARIANTS
                )
            )
            if med["2w"] > PROFILE_THRESHOLD * med["1w"] and not args.no_profile:
                if args.py_spy.exists():
                    workdir = Path(tmp)
                    report["profile"] = {}
                    for native in (False, True):
                        kind = "native" if native else "python"
                        one, other = (
                            profile(
                                args.py_spy,
                                running[name],
                                seconds,
                                workdir / f"{name}-{kind}.raw",
                                native=native,
                            )
                            for name in ("1w", "2w")
                        )
                        print(f"profiled runs ({kind}): {describe(one[0])} | {describe(other[0])}")
                        report["profile"][kind] = compare_profiles(kind, one, other, top=10)
                else:
                    print(f"c2 > 1.1 x c1 but {args.py_spy} is missing: no profile")
    except (
        RuntimeError,
        OSError,
        TimeoutError,
        ValueError,
        subprocess.SubprocessError,
        httpx.HTTPError,
    ) as exc:
        print(f"workers benchmark could not run: {exc}", file=sys.stderr)
        return 2
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    passed = result >= TARGET
    shown = math.floor(result * 100) / 100  # never print 1.80 for a 1.797 that fails
    print(
        f"workers scaling 2x/1x (cpu per request): {shown:.2f}x "
        f"(target >= {TARGET}: {'PASS' if passed else 'FAIL'})"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
