"""Config files for Envoy, Traefik and Caddy (ingress_nginx.py: nginx); gateways.py runs them.

Each renderer mirrors what the real deployment of that gateway produces for mcp-gatekeeper, so
the service is tested against the request and response contract it will meet in production.
Envoy and Traefik configs are written as JSON, which both read (JSON is valid YAML).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mcp_gatekeeper.forward_auth.tool_calls import MAX_BODY_BYTES
from mcp_gatekeeper.paths import AUTHENTICATE_PATH, AUTHORIZATION_SERVER_PATHS, RoutedPath

from .ports import LOOPBACK

AUTH_PATH = AUTHENTICATE_PATH
#: Served by the auth service itself and reachable without a token: the service's own list, so
#: the tests route exactly what the Helm chart and the examples route.
SERVICE_PATHS: tuple[RoutedPath, ...] = AUTHORIZATION_SERVER_PATHS


def routed_to_service(path: str) -> bool:
    """Whether a gateway of this harness sends ``path`` (query ignored) to the auth service."""
    path = path.split("?", 1)[0]
    return any(
        path == routed.path or (routed.match == "prefix" and path.startswith(routed.path + "/"))
        for routed in SERVICE_PATHS
    )


#: The 2026-07-28 transport headers that name a request's JSON-RPC method and tool.
#: With them the protocol version (headers bind only on 2026-07-28), Accept (an MCP client
#: gets its refusals as JSON-RPC errors, which MCP SDKs show) and DPoP (the proof that goes
#: with a sender-constrained token, RFC 9449).
MCP_HEADERS = ("mcp-protocol-version", "mcp-method", "mcp-name", "accept", "dpop")


@dataclass(frozen=True)
class GatewayOptions:
    """What a deployment may switch on beyond each gateway's default forward-auth setup, so the
    service can see which tool a request calls (per-tool authorization); and two mistakes."""

    #: Send the request body with the auth request: Envoy ``with_request_body`` (whole body,
    #: ``allow_partial_message: false``), Traefik ``forwardBody`` + ``preserveRequestMethod``.
    #: nginx ``auth_request`` and Caddy ``forward_auth`` cannot (run_gateway refuses).
    forward_body: bool = False
    #: Envoy: add ``Mcp-Method`` / ``Mcp-Name`` to ``allowed_headers`` (it sends only Host,
    #: method, path, Content-Length and Authorization otherwise). nginx, Traefik and Caddy pass
    #: every client header already, so this changes nothing there.
    mcp_headers: bool = False
    #: Envoy ``max_request_bytes`` / Traefik ``maxBodySize``: at most what the service parses.
    max_body_bytes: int = MAX_BODY_BYTES
    #: The mistake: Traefik's entry point ``forwardedHeaders.insecure`` with forwardAuth
    #: ``trustForwardHeader: true`` (both common behind a load balancer) keeps a client's own
    #: X-Forwarded-Host, so the client picks the host the service checks. Traefik only.
    trust_forward_header: bool = False
    #: The other mistake (Traefik only): no router for the authorization-server paths, so they
    #: fall under the MCP server's route and its forward-auth.
    route_authorization_server: bool = True
    #: The old ingress-nginx wiring (ingress-nginx only): ``auth-url`` without ``?host=$host&end=1``
    #: and the service on ``x-original-url``, which the controller builds from the client's Host
    #: header, not from the host nginx routed on (an absolute-form request tells them apart).
    legacy_ingress_nginx_host: bool = False
    #: The header of the auth answer that carries the user's upstream credential
    #: (``proxy.hosts[].upstream.header``), copied onto the request to the MCP server: nginx
    #: ``auth_request_set`` + ``proxy_set_header``, Envoy ``allowed_upstream_headers``, Traefik
    #: ``authResponseHeaders``, Caddy ``copy_headers``. ``Authorization`` overwrites the client's
    #: token; any other name also removes the client's ``Authorization`` on the way to the MCP
    #: server, as the examples show.
    upstream_header: str | None = None

    def removes_client_authorization(self) -> bool:
        """A separate credential header: the client's token must be dropped explicitly."""
        return self.upstream_header is not None and self.upstream_header.lower() != "authorization"


@dataclass(frozen=True)
class GatewaySpec:
    port: int
    auth_port: int
    upstream_port: int
    hosts: tuple[str, ...]
    identity_headers: tuple[str, ...]
    workdir: Path
    options: GatewayOptions = field(default_factory=GatewayOptions)


def _copied_headers(spec: GatewaySpec) -> tuple[str, ...]:
    """The auth answer's headers the gateway puts on the request to the MCP server."""
    upstream = spec.options.upstream_header
    return spec.identity_headers + ((upstream,) if upstream is not None else ())


# --- Envoy ----------------------------------------------------------------------------------
def _envoy_cluster(name: str, port: int) -> dict[str, object]:
    endpoint = {"address": {"socket_address": {"address": LOOPBACK, "port_value": port}}}
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
        },
    }


def envoy_config(spec: GatewaySpec) -> str:
    no_authz = {
        "envoy.filters.http.ext_authz": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3"
            ".ExtAuthzPerRoute",
            "disabled": True,
        }
    }
    # path_separated_prefix: the path itself or below it ("/a" matches "/a/b", not "/ab").
    routes: list[dict[str, object]] = [
        {
            "match": {"path" if r.match == "exact" else "path_separated_prefix": r.path},
            "route": {"cluster": "auth"},
            "typed_per_filter_config": no_authz,
        }
        for r in SERVICE_PATHS
    ]
    protected: dict[str, object] = {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}
    if spec.options.removes_client_authorization():
        protected["request_headers_to_remove"] = ["authorization"]
    routes.append(protected)
    vhosts = [
        {"name": f"host-{i}", "domains": [h, f"{h}:*"], "routes": routes}
        for i, h in enumerate(spec.hosts)
    ]
    options = spec.options
    exact = [{"exact": h.lower(), "ignore_case": True} for h in _copied_headers(spec)]
    allowed = ["authorization", *(MCP_HEADERS if options.mcp_headers else ())]
    ext_authz: dict[str, object] = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "transport_api_version": "V3",
        "failure_mode_allow": False,
        "http_service": {
            # Only cluster and timeout of server_uri are used; the request keeps the client Host.
            "server_uri": {
                "uri": f"http://{LOOPBACK}:{spec.auth_port}",
                "cluster": "auth",
                "timeout": "2s",
            },
            # The service sees <path_prefix><original path+query> with the original method.
            "path_prefix": AUTH_PATH,
            "authorization_response": {"allowed_upstream_headers": {"patterns": exact}},
        },
        # Top-level allowed_headers replaces the deprecated authorization_request.allowed_headers
        # (same meaning; Host, method, path and Authorization are always sent). No X-Forwarded-*:
        # Envoy Gateway / Istio send none unless configured, and the service must cope.
        "allowed_headers": {"patterns": [{"exact": h, "ignore_case": True} for h in allowed]},
    }
    if options.forward_body:
        # Envoy Gateway bodyToExtAuth / Istio includeRequestBodyInCheck. No partial bodies: a
        # cut JSON-RPC message cannot be checked, so a larger body gets 413 from Envoy.
        ext_authz["with_request_body"] = {
            "max_request_bytes": options.max_body_bytes,
            "allow_partial_message": False,
        }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
        ".v3.HttpConnectionManager",
        "stat_prefix": "gateway",
        "codec_type": "AUTO",
        "route_config": {"name": "gateway", "virtual_hosts": vhosts},
        "http_filters": [
            {"name": "envoy.filters.http.ext_authz", "typed_config": ext_authz},
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    listener = {
        "name": "gateway",
        "address": {"socket_address": {"address": LOOPBACK, "port_value": spec.port}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }
    clusters = [
        _envoy_cluster("auth", spec.auth_port),
        _envoy_cluster("upstream", spec.upstream_port),
    ]
    # No admin block: the admin interface is optional and would need another port.
    return json.dumps({"static_resources": {"listeners": [listener], "clusters": clusters}})


# --- Traefik --------------------------------------------------------------------------------
def traefik_configs(spec: GatewaySpec, dynamic_path: Path) -> tuple[str, str]:
    """(static, dynamic) configuration."""
    static = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            "web": {
                "address": f"{LOOPBACK}:{spec.port}",
                # Default 10s of graceful draining makes every test teardown slow.
                "transport": {"lifeCycle": {"graceTimeOut": "0s"}},
                "forwardedHeaders": {"insecure": spec.options.trust_forward_header},
            }
        },
        "providers": {"file": {"filename": str(dynamic_path), "watch": False}},
        "log": {"level": "WARN"},
    }
    discovery = " || ".join(
        f"Path(`{r.path}`)" + (f" || PathPrefix(`{r.path}/`)" if r.match == "prefix" else "")
        for r in SERVICE_PATHS
    )
    routers: dict[str, object] = {}
    for i, host in enumerate(spec.hosts):
        if spec.options.route_authorization_server:
            routers[f"discovery-{i}"] = {
                "entryPoints": ["web"],
                "rule": f"Host(`{host}`) && ({discovery})",
                "priority": 1000,
                "service": "auth",
            }
        routers[f"protected-{i}"] = {
            "entryPoints": ["web"],
            "rule": f"Host(`{host}`)",
            "priority": 10,
            # Headers middleware after forwardAuth: the auth request still carries the token.
            "middlewares": ["gatekeeper"]
            + (["drop-client-token"] if spec.options.removes_client_authorization() else []),
            "service": "upstream",
        }
    forward_auth: dict[str, object] = {
        "address": f"http://{LOOPBACK}:{spec.auth_port}{AUTH_PATH}",
        # Clients must not be able to feed X-Forwarded-* to the service.
        "trustForwardHeader": spec.options.trust_forward_header,
        "authResponseHeaders": list(_copied_headers(spec)),
    }
    if spec.options.forward_body:
        # The auth request becomes POST /authenticate with the JSON-RPC body (Traefik >= 3.4);
        # a body over maxBodySize gets 401 from Traefik.
        forward_auth |= {
            "forwardBody": True,
            "maxBodySize": spec.options.max_body_bytes,
            "preserveRequestMethod": True,
        }
    middlewares: dict[str, object] = {"gatekeeper": {"forwardAuth": forward_auth}}
    if spec.options.removes_client_authorization():
        # An empty value removes the header (Traefik headers middleware).
        middlewares["drop-client-token"] = {
            "headers": {"customRequestHeaders": {"Authorization": ""}}
        }
    dynamic = {
        "http": {
            "routers": routers,
            "middlewares": middlewares,
            "services": {
                name: {
                    "loadBalancer": {
                        "servers": [{"url": f"http://{LOOPBACK}:{port}"}],
                        "passHostHeader": True,
                    }
                }
                for name, port in (("auth", spec.auth_port), ("upstream", spec.upstream_port))
            },
        }
    }
    return json.dumps(static), json.dumps(dynamic)


# --- Caddy ----------------------------------------------------------------------------------
def caddyfile(spec: GatewaySpec) -> str:
    sites = ", ".join(f"http://{host}:{spec.port}" for host in spec.hosts)
    discovery = " ".join(
        r.path + (f" {r.path}/*" if r.match == "prefix" else "") for r in SERVICE_PATHS
    )
    # `uri /authenticate?`: the trailing "?" clears the query; without it Caddy appends the
    # client's query string to the auth URI. header_up: only the request to the MCP server
    # loses the client's token, not the auth request.
    drop = (
        " {\n\t\t\theader_up -Authorization\n\t\t}"
        if spec.options.removes_client_authorization()
        else ""
    )
    return f"""{{
	admin off
	auto_https off
}}

{sites} {{
	bind {LOOPBACK}
	@discovery path {discovery}
	handle @discovery {{
		reverse_proxy {LOOPBACK}:{spec.auth_port}
	}}
	handle {{
		forward_auth {LOOPBACK}:{spec.auth_port} {{
			uri {AUTH_PATH}?
			copy_headers {" ".join(_copied_headers(spec))}
		}}
		reverse_proxy {LOOPBACK}:{spec.upstream_port}{drop}
	}}
}}
"""
