"""``/authenticate`` against the issue's performance targets, as ratios measured side by side.

    .venv/bin/python bench/authenticate.py [--quick]

Method: ``/work/shared/research/perf.md`` (§3, §4, §6, §7). One uvicorn worker (uvloop, httptools)
runs ``create_app(config)`` in its own process (``bench/server.py``); wrk, hey, nginx and this
driver share the machine's cores with it, unpinned. Throughput is compared with the same server's
``GET /healthz`` (a FastAPI route returning ``{"status": "ok"}``): the reference. Each repetition
runs every variant once (round-robin, order rotated per repetition, 1 s warm-up before each run)
and the ratios are taken inside the repetition; the median over repetitions is the figure.

The uncached path is the real miss path of the production code: the server's verify cache is
small (``tokens.verifyCacheSize: 256``) and wrk rotates through 4,096 distinct tokens, so every
request hashes the token, misses the LRU cache, verifies RS256, renders the identity and inserts
(evicting) into the cache. The server counts its signature verifications, and the table shows
them per request (1.00 = every request missed, 0.00 = every request hit). hey can only send one
fixed header, so the fixed-rate uncached run uses a second server configured with
``verifyCacheSize: 0``, where the same token is verified on every request.

Phases, in order: setup checks; sequential latency (§2 of the output); warm-up; memory under a
mixed load (§5); throughput rounds incl. nginx ``auth_request`` (§1+6; config in ``procs.py``);
fixed-rate latency with hey (§3); key rotations (§4); then the targets table. Every measurement
also reports "background cpu": the share of the machine's CPU that processes *outside* this
benchmark used meanwhile (from ``/proc/stat`` minus our own processes). On a shared machine a
missed target next to a high background share is more likely noise than a regression.

Exits 1 if a "must" target is missed, 2 if the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from loadgen import (
    HeyResult,
    SeqResult,
    WrkResult,
    median,
    probe,
    run_hey,
    run_wrk,
    sequential,
    write_pool_script,
)
from procs import BENCH_DIR, Nginx, ServerProcess, system_busy_seconds

RESULTS = BENCH_DIR / "results" / "authenticate.json"
CACHE_SIZE = 256
POOL_SIZE = 4096
HEY_RATE = 2000
MIB = 1024.0
CPUS = os.cpu_count() or 1


@dataclass(frozen=True)
class Plan:
    reps: int
    seconds: int
    warmup_s: int
    hey_reps: int
    hey_s: int
    seq_rounds: int
    seq_warmup: int
    seq_count: int
    mem_requests: int
    mem_chunk_s: int
    mem_budget_s: int
    rotations: int


FULL = Plan(
    reps=5,
    seconds=5,
    warmup_s=1,
    hey_reps=3,
    hey_s=4,
    seq_rounds=3,
    seq_warmup=100,
    seq_count=1000,
    mem_requests=400_000,
    mem_chunk_s=10,
    mem_budget_s=100,
    rotations=5,
)
QUICK = Plan(
    reps=2,
    seconds=2,
    warmup_s=1,
    hey_reps=1,
    hey_s=3,
    seq_rounds=3,
    seq_warmup=100,
    seq_count=400,
    mem_requests=60_000,
    mem_chunk_s=3,
    mem_budget_s=20,
    rotations=3,
)


@dataclass
class Target:
    id: str
    what: str
    measured: float
    op: str
    threshold: float
    unit: str
    level: str  # "must" or "goal"
    note: str = ""
    #: CPU share of processes outside the benchmark while this was measured, in %.
    background: float | None = None

    @property
    def passed(self) -> bool:
        if self.measured != self.measured:  # NaN: not measured
            return False
        if self.op == ">=":
            return self.measured >= self.threshold
        if self.op == "<":
            return self.measured < self.threshold
        return self.measured <= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "passed": self.passed}


@dataclass(frozen=True)
class Variant:
    name: str
    target: str  # "main" or "nginx"
    path: str
    headers: tuple[str, ...] = ()
    script: Path | None = None
    expect_status: int = 200


@dataclass
class Run:
    variant: str
    rep: int
    wrk: WrkResult
    cpu_us_per_req: float
    nginx_cpu_us_per_req: float
    decodes_per_req: float
    background_pct: float
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "rep": self.rep,
            **self.wrk.to_dict(),
            "cpu_us_per_req": self.cpu_us_per_req,
            "nginx_cpu_us_per_req": self.nginx_cpu_us_per_req,
            "decodes_per_req": self.decodes_per_req,
            "background_cpu_pct": self.background_pct,
            "ok": self.ok,
        }


@dataclass
class Bench:
    plan: Plan
    work: Path
    main: ServerProcess
    nocache: ServerProcess
    nginx: Nginx
    log: Callable[[str], None]
    summary: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    rss_samples: list[tuple[str, int, float]] = field(default_factory=list)
    _pool: list[str] = field(default_factory=list)

    # --- helpers ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        host: str = self.main.info["host"]
        return host

    @property
    def token(self) -> str:
        token: str = self.main.info["cached_token"]
        return token

    @property
    def nocache_token(self) -> str:
        token: str = self.nocache.info["cached_token"]
        return token

    @property
    def pool(self) -> list[str]:
        if not self._pool:
            self._pool = Path(self.main.info["pool_file"]).read_text().split()
        return self._pool

    def our_cpu(self) -> float:
        """CPU seconds of every process this benchmark runs (finished wrk/hey included)."""
        me, children = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        total = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
        return (
            total + self.main.cpu_seconds() + self.nocache.cpu_seconds() + self.nginx.cpu_seconds()
        )

    def background(self) -> Callable[[], float]:
        """Start measuring; the returned function gives the share of the machine's CPU that
        processes *not* belonging to this benchmark used meanwhile, in % of all cores."""
        wall, busy, ours = time.monotonic(), system_busy_seconds(), self.our_cpu()

        def share() -> float:
            elapsed = (time.monotonic() - wall) * CPUS
            foreign = (system_busy_seconds() - busy) - (self.our_cpu() - ours)
            return max(0.0, foreign / elapsed * 100) if elapsed > 0 else 0.0

        return share

    def rss(self, label: str, requests: int) -> float:
        mib = self.main.rss_kib() / MIB
        self.rss_samples.append((label, requests, mib))
        return mib

    def target(self, *args: Any, **kwargs: Any) -> None:
        self.targets.append(Target(*args, **kwargs))

    def median_background(self, names: list[str]) -> float:
        """The noisier of the variants' median background CPU shares."""
        stats = self.summary["throughput"]
        return max(float(stats[name]["background_cpu_pct_median"]) for name in names)

    def url(self, variant: Variant) -> str:
        port = self.main.port if variant.target == "main" else self.nginx.port
        return f"http://127.0.0.1:{port}{variant.path}"

    # --- phases ----------------------------------------------------------------------------

    def check_setup(self) -> None:
        """Every path answers what it should, before anything is timed."""
        host = {"Host": self.host}
        bearer = {**host, "Authorization": f"Bearer {self.token}"}
        pool_last = {**host, "Authorization": f"Bearer {self.pool[-1]}"}
        nocache = {**host, "Authorization": f"Bearer {self.nocache_token}"}
        checks: list[tuple[str, int, str, dict[str, str], int, str | None]] = [
            ("healthz", self.main.port, "/healthz", host, 200, None),
            ("cached", self.main.port, "/authenticate", bearer, 200, "x-auth-request-user"),
            ("uncached", self.main.port, "/authenticate", pool_last, 200, "x-auth-request-user"),
            ("401", self.main.port, "/authenticate", host, 401, "www-authenticate"),
            ("nocache", self.nocache.port, "/authenticate", nocache, 200, "x-auth-request-user"),
            ("nginx", self.nginx.port, "/mcp", bearer, 200, None),
            ("nginx-401", self.nginx.port, "/mcp", host, 401, None),
        ]
        for name, port, path, headers, status, header in checks:
            got, got_headers, body = probe(port, path, headers)
            if got != status or (header is not None and header not in got_headers):
                raise RuntimeError(
                    f"setup check {name}: expected {status} with {header}, got {got} "
                    f"{got_headers} {body[:200]!r}"
                )
        self.log("setup checks passed (200 cached/uncached/nocache/nginx, 401 no token)")

    def sequential_latency(self) -> None:
        """Rounds interleaved over the paths; the figure is the median of the per-round values."""
        plan = self.plan
        host = {"Host": self.host}
        bearer = {**host, "Authorization": f"Bearer {self.token}"}
        nocache = {**host, "Authorization": f"Bearer {self.nocache_token}"}
        pool = self.pool
        used = 0

        def pooled(i: int) -> dict[str, str]:
            # Pool tokens never sent before (3,300 of 4,096): every one misses the cache.
            return {**host, "Authorization": f"Bearer {pool[(used + i) % len(pool)]}"}

        cases: list[tuple[str, ServerProcess, str, Callable[[int], dict[str, str]]]] = [
            ("healthz (reference)", self.main, "/healthz", lambda _i: host),
            ("cached", self.main, "/authenticate", lambda _i: bearer),
            ("uncached (pool, cache misses)", self.main, "/authenticate", pooled),
            ("401 no token", self.main, "/authenticate", lambda _i: host),
            ("uncached (verifyCacheSize 0)", self.nocache, "/authenticate", lambda _i: nocache),
        ]
        per_round: dict[str, list[SeqResult]] = {name: [] for name, *_ in cases}
        decodes: dict[str, int] = dict.fromkeys(per_round, 0)
        background = self.background()
        for _ in range(plan.seq_rounds):
            for name, server, path, headers in cases:
                before = server.decodes()
                per_round[name].append(
                    sequential(
                        server.port, path, headers, warmup=plan.seq_warmup, count=plan.seq_count
                    )
                )
                decodes[name] += server.decodes() - before
                if headers is pooled:
                    used += plan.seq_warmup + plan.seq_count
        sent = plan.seq_rounds * (plan.seq_warmup + plan.seq_count)
        background_pct = background()
        rows: dict[str, dict[str, Any]] = {}
        for name, results in per_round.items():
            statuses: dict[str, int] = {}
            for result in results:
                for code, n in result.statuses.items():
                    statuses[code] = statuses.get(code, 0) + n
            rows[name] = {
                "p50_ms": median([r.p50_ms for r in results]),
                "p90_ms": median([r.p90_ms for r in results]),
                "p99_ms": median([r.p99_ms for r in results]),
                "p99_ms_rounds": [r.p99_ms for r in results],
                "max_ms": max(r.max_ms for r in results),
                "statuses": statuses,
                "decodes_per_req": decodes[name] / sent,
                "rounds": [r.to_dict() for r in results],
            }
        self.summary["sequential"] = {**rows, "background_cpu_pct": background_pct}
        print_table(
            f"2. Unloaded latency: sequential keep-alive GETs (python http.client; "
            f"{plan.seq_rounds} interleaved rounds of {plan.seq_count} after {plan.seq_warmup} "
            "warm-up; median of per-round percentiles; client time incl. its own overhead; "
            f"background cpu {background_pct:.0f}%)",
            [
                "path",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "p99 per round",
                "max ms",
                "statuses",
                "decodes/req",
            ],
            [
                [
                    name,
                    f"{r['p50_ms']:.3f}",
                    f"{r['p90_ms']:.3f}",
                    f"{r['p99_ms']:.3f}",
                    " ".join(f"{v:.2f}" for v in r["p99_ms_rounds"]),
                    f"{r['max_ms']:.2f}",
                    fmt_statuses(r["statuses"]),
                    f"{r['decodes_per_req']:.2f}",
                ]
                for name, r in rows.items()
            ],
        )
        expected = {"200": plan.seq_rounds * plan.seq_count}
        for key, label in (("cached", "cached"), ("uncached (pool, cache misses)", "uncached")):
            row = rows[key]
            self.target(
                "P4",
                f"unloaded p99, {label}",
                row["p99_ms"] if row["statuses"] == expected else float("nan"),
                "<=",
                1.0,
                "ms",
                "must",
                background=background_pct,
            )
        for key, label in (("cached", "cached"), ("uncached (pool, cache misses)", "uncached")):
            self.target(
                "P4",
                f"unloaded p50, {label}",
                rows[key]["p50_ms"],
                "<=",
                0.5,
                "ms",
                "goal",
                background=background_pct,
            )
        self.target(
            "valid",
            "sequential uncached verified every request (decodes/req)",
            rows["uncached (pool, cache misses)"]["decodes_per_req"],
            ">=",
            0.99,
            "",
            "must",
        )

    def wrk_run(self, variant: Variant, rep: int, seconds: int) -> Run:
        before_decodes = self.main.decodes()
        before_cpu, before_nginx = self.main.cpu_seconds(), self.nginx.cpu_seconds()
        background = self.background()
        result = run_wrk(
            self.url(variant), seconds=seconds, headers=variant.headers, script=variant.script
        )
        background_pct = background()
        cpu = self.main.cpu_seconds() - before_cpu
        nginx_cpu = self.nginx.cpu_seconds() - before_nginx
        decodes = self.main.decodes() - before_decodes
        requests = max(result.requests, 1)
        if variant.expect_status == 200:
            ok = result.non_2xx == 0
        else:
            ok = result.non_2xx >= result.requests
        ok = ok and result.socket_errors == 0 and result.requests > 0
        return Run(
            variant.name,
            rep,
            result,
            cpu / requests * 1e6,
            nginx_cpu / requests * 1e6,
            decodes / requests,
            background_pct,
            ok,
        )

    def memory(self, mixed: Path) -> None:
        """Mixed load (1/3 cached, 1/3 uncached, 1/3 no token) in chunks, RSS after each."""
        plan = self.plan
        start = self.rss("after warm-up", 0)
        total = 0
        chunks: list[dict[str, Any]] = []
        deadline = time.monotonic() + plan.mem_budget_s
        background = self.background()
        while total < plan.mem_requests and time.monotonic() < deadline:
            result = run_wrk(
                f"http://127.0.0.1:{self.main.port}/authenticate",
                seconds=plan.mem_chunk_s,
                script=mixed,
            )
            total += result.requests
            mib = self.rss("mixed load", total)
            chunks.append({**result.to_dict(), "total_requests": total, "rss_mib": mib})
            self.log(f"memory: {total:>7} mixed requests, {result.rps:,.0f} rps, RSS {mib:.1f} MiB")
        end = self.rss_samples[-1][2]
        background_pct = background()
        self.summary["memory_phase"] = {
            "rss_start_mib": start,
            "chunks": chunks,
            "background_cpu_pct": background_pct,
        }
        short = total < plan.mem_requests
        self.target(
            "P10",
            f"RSS growth over {total:,} mixed requests",
            end - start,
            "<=",
            5.0,
            "MiB",
            "must",
            f"time budget hit before {plan.mem_requests:,}" if short else "",
            background=background_pct,
        )
        self.target(
            "P10",
            "server RSS after start and over the mixed requests (largest)",
            max(mib for _, _, mib in self.rss_samples),
            "<=",
            80.0,
            "MiB",
            "must",
        )

    def throughput(self, variants: list[Variant]) -> None:
        plan = self.plan
        runs: list[Run] = []
        for rep in range(plan.reps):
            order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
            for variant in order:
                run_wrk(
                    self.url(variant),
                    seconds=plan.warmup_s,
                    headers=variant.headers,
                    script=variant.script,
                )
                run = self.wrk_run(variant, rep, plan.seconds)
                runs.append(run)
                self.log(
                    f"rep {rep + 1}/{plan.reps} {variant.name:<14} {run.wrk.rps:>9,.0f} rps"
                    f"  p99 {run.wrk.p99_ms:6.2f} ms  cpu {run.cpu_us_per_req:5.0f} us/req"
                    f" (nginx {run.nginx_cpu_us_per_req:3.0f})"
                    f"  decodes/req {run.decodes_per_req:.2f}  background cpu"
                    f" {run.background_pct:3.0f}%" + ("" if run.ok else "  BAD RUN")
                )
        self.summary["throughput_runs"] = [run.to_dict() for run in runs]

        def by(name: str) -> list[Run]:
            return sorted((r for r in runs if r.variant == name), key=lambda r: r.rep)

        def ratios(name: str, reference: str) -> list[float]:
            return [a.wrk.rps / b.wrk.rps for a, b in zip(by(name), by(reference), strict=True)]

        references = {v.name: "healthz" for v in variants}
        references["nginx-cached"] = "cached"
        rows = []
        stats: dict[str, dict[str, Any]] = {}
        for variant in variants:
            mine = by(variant.name)
            rps = [r.wrk.rps for r in mine]
            ratio = ratios(variant.name, references[variant.name])
            stats[variant.name] = {
                "reference": references[variant.name],
                "rps_min": min(rps),
                "rps_median": median(rps),
                "rps_max": max(rps),
                "ratio_median": median(ratio),
                "ratio_min": min(ratio),
                "ratio_max": max(ratio),
                "ratios": ratio,
                "p50_ms_median": median([r.wrk.p50_ms for r in mine]),
                "p99_ms_median": median([r.wrk.p99_ms for r in mine]),
                "cpu_us_per_req_median": median([r.cpu_us_per_req for r in mine]),
                "nginx_cpu_us_per_req_median": median([r.nginx_cpu_us_per_req for r in mine]),
                "decodes_per_req_median": median([r.decodes_per_req for r in mine]),
                "background_cpu_pct_median": median([r.background_pct for r in mine]),
                "background_cpu_pct_max": max(r.background_pct for r in mine),
                "non_2xx": sum(r.wrk.non_2xx for r in mine),
                "requests": sum(r.wrk.requests for r in mine),
                "all_ok": all(r.ok for r in mine),
            }
            s = stats[variant.name]
            rows.append(
                [
                    variant.name,
                    f"{s['rps_min']:,.0f} / {s['rps_median']:,.0f} / {s['rps_max']:,.0f}",
                    f"{s['ratio_median']:.2f} ({s['ratio_min']:.2f}-{s['ratio_max']:.2f})",
                    f"to {s['reference']}",
                    f"{s['p50_ms_median']:.2f}",
                    f"{s['p99_ms_median']:.2f}",
                    f"{s['cpu_us_per_req_median']:.0f}",
                    "-" if variant.target != "nginx" else f"{s['nginx_cpu_us_per_req_median']:.0f}",
                    "-" if variant.target == "nginx" else f"{s['decodes_per_req_median']:.2f}",
                    f"{s['background_cpu_pct_median']:.0f} / {s['background_cpu_pct_max']:.0f}",
                    f"{s['non_2xx']:,}/{s['requests']:,}" + ("" if s["all_ok"] else " BAD"),
                ]
            )
        self.summary["throughput"] = stats
        print_table(
            f"1+6. Closed-loop throughput (wrk -t1 -c64, {plan.reps} reps x {plan.seconds} s, "
            f"{plan.warmup_s} s warm-up per run, round-robin; ratio = median of per-rep ratios)",
            [
                "variant",
                "rps min / median / max",
                "ratio (min-max)",
                "reference",
                "p50 ms",
                "p99 ms",
                "server cpu us/req",
                "nginx cpu us/req",
                "decodes/req",
                "background cpu % med/max",
                "non-2xx/requests",
            ],
            rows,
        )

        def ratio_target(tid: str, name: str, threshold: float, level: str, what: str) -> None:
            s = stats[name]
            measured = s["ratio_median"] if s["all_ok"] else float("nan")
            background_pct = self.median_background([name, s["reference"]])
            self.target(tid, what, measured, ">=", threshold, "x", level, background=background_pct)

        ratio_target("P1", "cached", 0.85, "must", "cached 200 rps / healthz rps")
        ratio_target("P1", "cached", 1.0, "goal", "cached 200 rps / healthz rps")
        ratio_target("P2", "uncached", 0.35, "must", "uncached 200 rps / healthz rps")
        ratio_target("P3", "401", 0.95, "must", "401 (no token) rps / healthz rps")
        ratio_target("P6", "nginx-cached", 0.90, "must", "nginx auth_request cached / direct")
        self.target(
            "valid",
            "uncached runs verified every request (decodes/req)",
            min(r.decodes_per_req for r in by("uncached")),
            ">=",
            0.95,
            "",
            "must",
        )
        self.target(
            "valid",
            "cached runs hit the cache (decodes/req)",
            max(r.decodes_per_req for r in by("cached")),
            "<=",
            0.01,
            "",
            "must",
        )

    def fixed_rate(self) -> None:
        """hey at a fixed offered rate, repetitions interleaved; median of per-rep percentiles."""
        plan = self.plan
        bearer = (f"Authorization: Bearer {self.token}",)
        nocache = (f"Authorization: Bearer {self.nocache_token}",)
        cases: list[tuple[str, ServerProcess, str, tuple[str, ...]]] = [
            ("healthz (reference)", self.main, "/healthz", ()),
            ("cached", self.main, "/authenticate", bearer),
            ("uncached (verifyCacheSize 0)", self.nocache, "/authenticate", nocache),
        ]
        results: dict[str, list[HeyResult]] = {name: [] for name, *_ in cases}
        valid: dict[str, bool] = dict.fromkeys(results, True)
        for rep in range(plan.hey_reps):
            for name, server, path, headers in cases:
                before = server.decodes()
                background = self.background()
                result = run_hey(
                    f"http://127.0.0.1:{server.port}{path}",
                    seconds=plan.hey_s,
                    rate=HEY_RATE,
                    host=self.host,
                    headers=headers,
                )
                result.background_pct = background()
                decodes = (server.decodes() - before) / max(result.requests, 1)
                results[name].append(result)
                valid[name] = valid[name] and (
                    result.errors == 0
                    and set(result.statuses) == {"200"}
                    and result.rps >= 0.95 * HEY_RATE
                    and (not name.startswith("uncached") or decodes >= 0.99)
                    and (name.startswith("uncached") or decodes <= 0.01)
                )
                self.log(
                    f"hey rep {rep + 1}/{plan.hey_reps} {name}: {result.rps:,.0f} rps, "
                    f"p99 {result.p99_ms:.2f} ms, decodes/req {decodes:.2f}, "
                    f"background cpu {result.background_pct:.0f}%"
                )
        rows: dict[str, dict[str, Any]] = {}
        for name, reps in results.items():
            statuses: dict[str, int] = {}
            for r in reps:
                for code, n in r.statuses.items():
                    statuses[code] = statuses.get(code, 0) + n
            rows[name] = {
                "rps": median([r.rps for r in reps]),
                "p50_ms": median([r.p50_ms for r in reps]),
                "p90_ms": median([r.p90_ms for r in reps]),
                "p99_ms": median([r.p99_ms for r in reps]),
                "p99_ms_reps": [r.p99_ms for r in reps],
                "slowest_ms": max(r.slowest_ms for r in reps),
                "statuses": statuses,
                "errors": sum(r.errors for r in reps),
                "background_cpu_pct": [r.background_pct for r in reps],
                "valid": valid[name],
                "reps": [r.to_dict() for r in reps],
            }
        self.summary["fixed_rate"] = rows
        print_table(
            f"3. Fixed-rate latency (hey -z {plan.hey_s}s -c 20 -q {HEY_RATE // 20}: "
            f"{HEY_RATE} rps offered, keep-alive; {plan.hey_reps} interleaved reps, medians)",
            [
                "path",
                "achieved rps",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "p99 per rep",
                "slowest ms",
                "statuses",
                "errors",
                "background cpu %",
            ],
            [
                [
                    name,
                    f"{r['rps']:,.0f}",
                    f"{r['p50_ms']:.2f}",
                    f"{r['p90_ms']:.2f}",
                    f"{r['p99_ms']:.2f}",
                    " ".join(f"{v:.1f}" for v in r["p99_ms_reps"]),
                    f"{r['slowest_ms']:.1f}",
                    fmt_statuses(r["statuses"]),
                    str(r["errors"]),
                    " ".join(f"{v:.0f}" for v in r["background_cpu_pct"]),
                ]
                for name, r in rows.items()
            ],
        )
        for name, label in (("cached", "cached"), ("uncached (verifyCacheSize 0)", "uncached")):
            row = rows[name]
            self.target(
                "P5",
                f"p99 at {HEY_RATE} rps, {label}",
                row["p99_ms"] if row["valid"] else float("nan"),
                "<=",
                10.0,
                "ms",
                "must",
                "" if row["valid"] else "invalid: errors, non-200, < 95% of the rate or hit/miss",
                background=median(row["background_cpu_pct"]),
            )

    def rotation(self) -> None:
        background = self.background()
        answer = self.main.command(f"rotate {self.plan.rotations} 0.3", timeout=120)
        background_pct = background()
        self.summary["rotation"] = {**answer, "background_cpu_pct": background_pct}
        rounds = answer["rounds"]
        during = [r["during"]["max_gap_ms"] for r in rounds]
        print_table(
            "4. Key rotation: event-loop lag in the server (1 ms asyncio ticker, largest gap "
            "between ticks, the 1 ms tick included; each rotation paired with 0.3 s idle; "
            f"background cpu {background_pct:.0f}%)",
            [
                "rotation",
                "idle max gap ms",
                "rotate() max gap ms",
                "rotate() p99 gap ms",
                "rotate() wall ms",
            ],
            [
                [
                    str(n + 1),
                    f"{r['idle']['max_gap_ms']:.2f}",
                    f"{r['during']['max_gap_ms']:.2f}",
                    f"{r['during']['p99_gap_ms']:.2f}",
                    f"{r['rotation_ms']:.0f}",
                ]
                for n, r in enumerate(rounds)
            ],
        )
        self.target(
            "P8",
            "event-loop stall during a key rotation (median of rotations)",
            median(during),
            "<",
            10.0,
            "ms",
            "must",
            background=background_pct,
        )
        self.target(
            "P8",
            "event-loop stall during a key rotation (worst rotation)",
            max(during),
            "<",
            10.0,
            "ms",
            "goal",
            background=background_pct,
        )


# --- output ------------------------------------------------------------------------------


def fmt_statuses(statuses: dict[str, int]) -> str:
    return " ".join(f"{code}:{n}" for code, n in sorted(statuses.items()))


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join("-" * w for w in widths)
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print(line)
    sys.stdout.flush()


def fmt_value(value: float, unit: str) -> str:
    if value != value:
        return "n/a"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "":
        return f"{value:.3f}"
    return f"{value:.2f} {unit}"


def versions() -> dict[str, str]:
    found = {}
    for name in (
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "PyJWT",
        "cryptography",
        "cachetools",
    ):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "?"
    nginx = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True)
    found["nginx"] = nginx.stderr.strip().rsplit("/", 1)[-1]
    return found


# --- main --------------------------------------------------------------------------------


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark /authenticate against the targets.")
    parser.add_argument("--quick", action="store_true", help="short run (~1 minute)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON summary path")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, configs)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-authenticate-"))
    tokens_file = work / "pool.txt"
    main_server = ServerProcess(
        "server-main",
        work,
        "--cache-size",
        str(CACHE_SIZE),
        "--pool",
        str(POOL_SIZE),
        "--pool-file",
        str(tokens_file),
    )
    nocache = ServerProcess("server-nocache", work, "--cache-size", "0")
    nginx: Nginx | None = None
    try:
        main_server.wait_ready()
        nocache.wait_ready()
        rss_ready = main_server.rss_kib() / MIB
        nginx = Nginx(work, main_server.port)
        log(
            f"servers up: main pid {main_server.pid} port {main_server.port}, nocache pid "
            f"{nocache.pid}, nginx port {nginx.port}; work dir {work}"
        )
        bench = Bench(plan, work, main_server, nocache, nginx, log)
        bench.rss_samples.append(("right after start", 0, rss_ready))
        whole_run = bench.background()

        uncached_lua = write_pool_script(
            work / "uncached.lua",
            tokens_file,
            host=bench.host,
            cached=bench.token,
            mix=False,
            url_path="/authenticate",
        )
        mixed_lua = write_pool_script(
            work / "mixed.lua",
            tokens_file,
            host=bench.host,
            cached=bench.token,
            mix=True,
            url_path="/authenticate",
        )
        host_h = f"Host: {bench.host}"
        bearer_h = f"Authorization: Bearer {bench.token}"
        variants = [
            Variant("healthz", "main", "/healthz", (host_h,)),
            Variant("cached", "main", "/authenticate", (host_h, bearer_h)),
            Variant("uncached", "main", "/authenticate", script=uncached_lua),
            Variant("401", "main", "/authenticate", (host_h,), expect_status=401),
            Variant("nginx-cached", "nginx", "/mcp", (host_h, bearer_h)),
        ]

        print(f"mcp-gatekeeper /authenticate benchmark ({'quick' if args.quick else 'full'})")
        print(
            f"machine: {os.cpu_count()} CPUs, {platform.python_implementation()} "
            f"{platform.python_version()}, load average before {load_before[0]:.2f}"
        )
        print(f"stack: {' '.join(f'{k} {v}' for k, v in versions().items())}")
        print(
            "server: 1 uvicorn worker (loop=uvloop, http=httptools, access_log off), "
            f"create_app(config) in its own process; verifyCacheSize {CACHE_SIZE}, "
            f"uncached = {POOL_SIZE} distinct tokens rotated (LRU never holds them)"
        )
        print(
            "reference for throughput ratios: GET /healthz, a FastAPI route returning "
            '{"status": "ok"}, same server, same repetition'
        )
        print("all processes unpinned on the same cores (wrk/hey/nginx/server/driver)")

        bench.check_setup()
        bench.sequential_latency()
        for variant in variants:  # warm every path (and fill the verify cache)
            run_wrk(
                bench.url(variant),
                seconds=plan.warmup_s,
                headers=variant.headers,
                script=variant.script,
            )
        bench.memory(mixed_lua)
        bench.throughput(variants)
        bench.fixed_rate()
        bench.rss("after throughput and fixed-rate phases", -1)
        bench.rotation()
        bench.rss("after key rotations", -1)
        nocache_rss = nocache.rss_kib() / MIB

        print_table(
            "5. Memory: VmRSS of the server (the verify cache fills during the warm-up)",
            ["when", "requests in memory phase", "RSS MiB"],
            [
                [label, "-" if n < 0 else f"{n:,}", f"{mib:.1f}"]
                for label, n, mib in bench.rss_samples
            ],
        )
        print(
            f"(server with verifyCacheSize 0: {nocache_rss:.1f} MiB; nginx master pid "
            f"{nginx.pid} not counted)"
        )
        peak = max(mib for _, _, mib in bench.rss_samples)
        bench.target(
            "P10", "server RSS, largest sample of the whole run", peak, "<=", 80.0, "MiB", "goal"
        )

        load_after = os.getloadavg()
        background_pct = whole_run()
        print_table(
            "Targets",
            ["id", "target", "measured", "threshold", "level", "background cpu", "result"],
            [
                [
                    t.id,
                    t.what,
                    fmt_value(t.measured, t.unit),
                    f"{t.op} {fmt_value(t.threshold, t.unit)}",
                    t.level,
                    "-" if t.background is None else f"{t.background:.0f}%",
                    ("PASS" if t.passed else "FAIL") + (f" ({t.note})" if t.note else ""),
                ]
                for t in bench.targets
            ],
        )
        failed = [t for t in bench.targets if t.level == "must" and not t.passed]
        missed_goals = [t for t in bench.targets if t.level == "goal" and not t.passed]
        elapsed = time.monotonic() - started
        print(
            f"\n{len(failed)} must target(s) missed, {len(missed_goals)} goal(s) missed; "
            f"{elapsed:.0f} s; load average after {load_after[0]:.2f}; CPU used by processes "
            f"outside this benchmark: {background_pct:.0f}% of the machine over the run"
        )

        summary = {
            "mode": "quick" if args.quick else "full",
            "plan": dataclasses.asdict(plan),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "elapsed_s": elapsed,
            "machine": {
                "cpus": os.cpu_count(),
                "load_before": load_before,
                "load_after": load_after,
                "background_cpu_pct": background_pct,
                "python": platform.python_version(),
            },
            "versions": versions(),
            "server": {"cache_size": CACHE_SIZE, "pool": POOL_SIZE, "reference": "/healthz"},
            **bench.summary,
            "rss": [
                {"when": label, "requests": n, "rss_mib": mib}
                for label, n, mib in bench.rss_samples
            ],
            "targets": [t.to_dict() for t in bench.targets],
            "passed": not failed,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"JSON summary: {args.output}")
        return 1 if failed else 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception as exc:
        traceback.print_exc()
        log(f"benchmark could not run: {exc!r}; logs kept in {work}")
        args.keep = True
        return 2
    finally:
        if nginx is not None:
            nginx.stop()
        main_server.stop()
        nocache.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
