"""Envoy's ext_authz over gRPC against ext_authz over HTTP: what one check costs *Envoy*.

    pip install grpcio grpcio-tools      # not project dependencies: only this script needs them
    .venv/bin/python bench/envoy_grpc_authz.py [--reps N] [--seconds S]

Two trivial authorization servers that always allow, each in its own process: a raw ASGI app
under uvicorn answering ``200`` with ``x-auth-request-user: bench``, and a grpcio server
implementing ``envoy.service.auth.v3.Authorization/Check`` that answers OK with the same header
in ``ok_response.headers`` (the messages: ``bench/envoy_grpc/ext_authz.proto``, Envoy's field
numbers, compiled with grpcio-tools into a temporary directory at start). Two Envoys
(``--concurrency 1``), one per mode, answer allowed requests themselves (``direct_response``
200, as ``versus_envoy.py``) and copy the identity header onto the request.

First a sanity check per mode: through a throw-away Envoy that echoes the header it got from the
check, an allowing server gives 200 and ``bench``, a denying one 403. Then two rounds, each mode
in turn, the order swapped every repetition: closed loop (wrk ``-t1 -c16``), then the same fixed
rate for both (hey, 16 workers, 60% of the slower mode's closed-loop throughput), since Envoy's
cost per request falls as its load rises. Every thread of the Envoys and auth servers runs on
core 0, wrk and hey on the other. CPU is utime+stime from ``/proc/<pid>/stat`` around each run,
per request answered; "others" is the rest of the machine's busy time meanwhile (other
benchmarks), in % of one core. The ratio gRPC/HTTP of Envoy's CPU per check is taken inside
each repetition; medians are printed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.resources
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from loadgen import probe, run_hey, run_wrk
from procs import cpu_seconds, free_port, pin, stop, system_busy_seconds, wait_for_port
from side_by_side import CORE, arguments
from versus_envoy import Envoy, ext_authz_config, start_envoy

PROTO = Path(__file__).resolve().parent / "envoy_grpc" / "ext_authz.proto"
USER_HEADER = "x-auth-request-user"
ECHO_HEADER = "x-bench-echo-user"
MODES = ("http", "grpc")
GRPC_OK, GRPC_PERMISSION_DENIED = 0, 7
CONNECTIONS = 16  # wrk's and hey's
BUSY_PCT = 50  # others' share of a core past which a round is marked: noise, probably


# --- the authorization servers (child processes: ``envoy_grpc_authz.py serve MODE``) ---------

Message = dict[str, Any]


def serve_http(deny: bool) -> None:
    import uvicorn

    status = 403 if deny else 200
    headers = [] if deny else [(USER_HEADER.encode(), b"bench")]

    async def app(
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"READY {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def compile_protos(out: Path) -> None:
    """``ext_authz_pb2`` into ``out`` (grpcio-tools ships protoc and Google's well-known types)."""
    protoc: Any = importlib.import_module("grpc_tools.protoc")
    include = importlib.resources.files("grpc_tools") / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    command = ["protoc", f"-I{PROTO.parent}", f"-I{include}", f"--python_out={out}", str(PROTO)]
    if protoc.main(command) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")


def check_response(pb2: Any, deny: bool) -> bytes:
    """The one answer the gRPC server gives, serialized once."""
    if deny:
        response = pb2.CheckResponse(
            status=pb2.Status(code=GRPC_PERMISSION_DENIED),
            denied_response=pb2.DeniedHttpResponse(status=pb2.HttpStatus(code=403)),
        )
    else:
        header = pb2.HeaderValueOption(header=pb2.HeaderValue(key=USER_HEADER, value="bench"))
        response = pb2.CheckResponse(
            status=pb2.Status(code=GRPC_OK), ok_response=pb2.OkHttpResponse(headers=[header])
        )
    answer: bytes = response.SerializeToString()
    return answer


def serve_grpc(proto_dir: Path, deny: bool) -> None:
    """grpcio's thread-pool server, a thread per stream Envoy has open at once (up to 16): about
    half the CPU per call of a ``grpc.aio`` server in a trial run here."""
    grpc: Any = importlib.import_module("grpc")
    sys.path.insert(0, str(proto_dir))
    pb2: Any = importlib.import_module("ext_authz_pb2")
    answer = check_response(pb2, deny)

    def check(request: Any, context: Any) -> bytes:
        return answer

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=CONNECTIONS))
    handler = grpc.unary_unary_rpc_method_handler(
        check, request_deserializer=pb2.CheckRequest.FromString
    )  # no response_serializer: the answer is already bytes
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(
            "envoy.service.auth.v3.Authorization", {"Check": handler}
        )]
    )  # fmt: skip
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"READY {port}", flush=True)
    server.wait_for_termination()


def serve(argv: list[str]) -> int:
    mode, deny = argv[0], "--deny" in argv
    if mode == "http":
        serve_http(deny)
    else:
        serve_grpc(Path(argv[argv.index("--proto-dir") + 1]), deny)
    return 0


@dataclass
class AuthServer:
    mode: str
    process: subprocess.Popen[str]
    port: int
    log: IO[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop(self.process)
        self.log.close()


@contextlib.contextmanager
def auth_server(work: Path, mode: str, proto_dir: Path, *, deny: bool) -> Iterator[AuthServer]:
    """An authorization server on ``CORE``, stopped on exit."""
    name = f"auth-{mode}{'-deny' if deny else ''}"
    log = (work / f"{name}.log").open("w")
    command = [sys.executable, __file__, "serve", mode, "--proto-dir", str(proto_dir)]
    process = subprocess.Popen(
        [*command, *(["--deny"] if deny else [])], stdout=subprocess.PIPE, stderr=log, text=True
    )
    server = AuthServer(mode, process, 0, log)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("READY "):
            process.wait(10)
            raise RuntimeError(f"{name} did not start:\n{(work / f'{name}.log').read_text()}")
        server.port = int(line.split()[1])
        wait_for_port(server.port, process, timeout=10)
        pin(process.pid, {CORE})
        yield server
    finally:
        server.stop()


# --- the Envoys -----------------------------------------------------------------------------


def envoy_config(mode: str, port: int, auth_port: int, *, echo: bool) -> dict[str, Any]:
    """``versus_envoy``'s ext_authz Envoy; in gRPC mode asking over ``grpc_service`` (HTTP/2).

    Both modes copy the identity header onto the request (HTTP: allow-listed; gRPC: always).
    ``echo`` (sanity check only) sends it back to the client in another header.
    """
    config = ext_authz_config(port, auth_port)  # a fresh dict every call
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    ext_authz = hcm["typed_config"]["http_filters"][0]["typed_config"]
    if mode == "http":
        ext_authz["http_service"]["authorization_response"] = {
            "allowed_upstream_headers": {"patterns": [{"exact": USER_HEADER}]}
        }
    else:
        del ext_authz["http_service"]
        ext_authz["grpc_service"] = {"envoy_grpc": {"cluster_name": "auth"}, "timeout": "2s"}
        (cluster,) = config["static_resources"]["clusters"]
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3"
                ".HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    if echo:
        (host,) = hcm["typed_config"]["route_config"]["virtual_hosts"]
        (route,) = host["routes"]
        value = f"%REQ({USER_HEADER})%"
        route["response_headers_to_add"] = [{"header": {"key": ECHO_HEADER, "value": value}}]
    return config


@contextlib.contextmanager
def envoy(
    work: Path, name: str, config: Callable[[int], dict[str, Any]]
) -> Iterator[tuple[Envoy, int]]:
    """An Envoy on ``CORE`` (``versus_envoy.start_envoy``) and its port; stopped on exit."""
    port = free_port()
    process = start_envoy(work, name, config(port), port)
    try:
        pin(process.pid, {CORE})
        yield process, port
    finally:
        process.terminate()
        process.wait(10)


def sanity_check(work: Path, proto_dir: Path) -> None:
    """Per mode: allow → 200 with the identity header applied; deny → 403."""
    for mode in MODES:
        for deny in (False, True):
            with (
                auth_server(work, mode, proto_dir, deny=deny) as server,
                envoy(
                    work,
                    f"check-{mode}-{deny}",
                    functools.partial(envoy_config, mode, auth_port=server.port, echo=True),
                ) as (_, port),
            ):
                status, headers, _ = probe(port, "/mcp", {"Host": "mcp.example"})
            want = (403, None) if deny else (200, "bench")
            got = (status, headers.get(ECHO_HEADER))
            verdict = "deny" if deny else "allow"
            if got != want:
                raise SystemExit(f"sanity check {mode} {verdict}: got {got}, want {want}")
            shown = f"identity header {got[1]!r} applied" if got[1] else "no identity header"
            print(f"sanity {mode:4} {verdict:5}: {status}, {shown}")


# --- measurement ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    rps: float
    envoy_us: float  # Envoy CPU per request, microseconds
    auth_us: float  # auth server CPU per request
    others_pct: float  # the rest of the machine's busy time meanwhile, % of one core


@dataclass(frozen=True)
class Target:
    url: str
    envoy_pid: int
    auth_pid: int


Load = Callable[[str], tuple[int, float]]  # url → (requests answered 200, requests/s)


def closed_loop(seconds: int) -> Load:
    def load(url: str) -> tuple[int, float]:
        result = run_wrk(url, seconds=seconds, connections=CONNECTIONS)
        if result.non_2xx or result.socket_errors:
            raise SystemExit(f"{url}: {result.non_2xx} non-2xx, {result.socket_errors} errors")
        return result.requests, result.rps

    return load


def fixed_rate(seconds: int, rate: int) -> Load:
    def load(url: str) -> tuple[int, float]:
        result = run_hey(url, seconds=seconds, rate=rate, host="mcp.example", workers=CONNECTIONS)
        ok = result.statuses.get("200", 0)
        if result.errors or ok != result.requests:
            raise SystemExit(f"{url}: {result.statuses}, {result.errors} errors")
        return ok, result.rps

    return load


def measure(load: Load, target: Target) -> Round:
    def sample() -> tuple[float, float, float, float]:
        times = os.times()  # this script and the load generator (reaped when it is done)
        ours = times.user + times.system + times.children_user + times.children_system
        envoy, auth = cpu_seconds(target.envoy_pid), cpu_seconds(target.auth_pid)
        return envoy, auth, ours, system_busy_seconds()

    before, started = sample(), time.monotonic()
    requests, rps = load(target.url)
    after, elapsed = sample(), time.monotonic() - started
    if not requests:
        raise SystemExit(f"{target.url}: no request answered")
    envoy_s, auth_s, ours, busy = (b - a for a, b in zip(before, after, strict=True))
    others = busy - envoy_s - auth_s - ours
    return Round(
        rps=rps,
        envoy_us=envoy_s / requests * 1e6,
        auth_us=auth_s / requests * 1e6,
        others_pct=max(others, 0.0) / elapsed * 100,
    )


def compare(title: str, targets: dict[str, Target], load: Load, reps: int) -> dict[str, float]:
    """Every mode under ``load`` in turn, the order swapped every repetition; medians by mode."""
    rounds: dict[str, list[Round]] = {mode: [] for mode in targets}
    ratios: list[float] = []
    order = list(targets)
    print(f"\n{title}")
    print(f"{'rep':>4} {'mode':4} {'req/s':>8} {'Envoy us/req':>12} {'auth us/req':>11}  others")
    for rep in range(reps):
        for mode in order:
            r = measure(load, targets[mode])
            rounds[mode].append(r)
            busy = "  (busy machine)" if r.others_pct > BUSY_PCT else ""
            print(
                f"{rep + 1:>4} {mode:4} {r.rps:8.0f} {r.envoy_us:12.1f} {r.auth_us:11.1f}"
                f"  {r.others_pct:5.0f}%{busy}"
            )
        ratios.append(rounds["grpc"][-1].envoy_us / rounds["http"][-1].envoy_us)
        order.reverse()
    medians = {mode: statistics.median(r.rps for r in values) for mode, values in rounds.items()}
    for mode, values in rounds.items():
        envoy_us = statistics.median(r.envoy_us for r in values)
        auth_us = statistics.median(r.auth_us for r in values)
        print(f"  median {mode:4} {medians[mode]:8.0f} {envoy_us:12.1f} {auth_us:11.1f}")
    shown = ", ".join(f"{value:.2f}" for value in ratios)
    median = statistics.median(ratios)
    print(f"  Envoy CPU per check, gRPC / HTTP: median {median:.2f}x (per rep: {shown})")
    return medians


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        return serve(sys.argv[2:])
    args = arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proto_dir = work / "proto"
        compile_protos(proto_dir)
        sys.path.insert(0, str(proto_dir))
        check_response(importlib.import_module("ext_authz_pb2"), deny=False)  # fails here if bad
        sanity_check(work, proto_dir)
        with contextlib.ExitStack() as stack:
            targets: dict[str, Target] = {}
            for mode in MODES:
                server = stack.enter_context(auth_server(work, mode, proto_dir, deny=False))
                config = functools.partial(envoy_config, mode, auth_port=server.port, echo=False)
                proxy, port = stack.enter_context(envoy(work, f"envoy-{mode}", config))
                url = f"http://127.0.0.1:{port}/mcp"
                targets[mode] = Target(url, proxy.pid, server.pid)
            os.sched_setaffinity(0, os.sched_getaffinity(0) - {CORE})  # wrk and hey, too
            for target in targets.values():  # warm-up: connections to the auth servers
                run_wrk(target.url, seconds=1, connections=CONNECTIONS)
            seconds = args.seconds
            title = f"closed loop: wrk -t1 -c{CONNECTIONS} -d{seconds}s"
            rps = compare(title, targets, closed_loop(seconds), args.reps)
            # The same load on both: Envoy's cost per request falls as load rises (more requests
            # per wake-up), so the closed loop favours whichever mode its auth server lets go
            # faster. 60% of the slower mode's throughput, a multiple of hey's workers.
            rate = int(min(rps.values()) * 0.6) // CONNECTIONS * CONNECTIONS
            title = f"fixed rate: hey -c {CONNECTIONS} at {rate} req/s, {seconds}s"
            compare(title, targets, fixed_rate(seconds, rate), args.reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
