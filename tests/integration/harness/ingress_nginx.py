"""nginx config equivalent to what ingress-nginx renders for mcp-gatekeeper's auth annotations.

Split from configs.py only to keep modules small; see configs.py for the other gateways.
"""

from __future__ import annotations

import os

from .configs import AUTH_PATH, SERVICE_PATHS, GatewaySpec
from .ports import LOOPBACK

# What ingress-nginx's nginx.tmpl renders for
#   nginx.ingress.kubernetes.io/auth-url: http://127.0.0.1:<auth>/authenticate?host=$host&end=1
#   nginx.ingress.kubernetes.io/auth-response-headers: <identity headers>
# with auth-keepalive unset (its Lua keep-alive path drops WWW-Authenticate on 401/403).
# Deviation: the auth location targets an `upstream` block with keepalive, as the template
# does for auth-keepalive > 0, to keep test connections cheap; the HTTP contract is the same.
_NGINX_AUTH_LOCATION = "/_external-auth-Lw-Prefix"  # "/_external-auth-" + b64url("/") + pathType
HEADERS_MORE_MODULE = "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so"
#: The auth-url's query: nginx's $host, the host the request was routed on (the request line's
#: host first, then the Host header; lower-case, no port). The controller copies the annotation
#: into `set $target`, where nginx expands the variable.
AUTH_QUERY = "?host=$host&end=1"
#: The CORS annotations of examples/ingress-nginx/mcp-server.yaml (test_examples.py holds them
#: equal), so browser clients can read the 401 challenge and preflights never reach the auth.
CORS_ANNOTATIONS = {
    "enable-cors": "true",
    "cors-allow-origin": "*",
    "cors-allow-credentials": "false",
    "cors-allow-methods": "GET, POST, DELETE, OPTIONS",
    "cors-allow-headers": (
        "Authorization, Content-Type, Mcp-Protocol-Version, Mcp-Session-Id, Mcp-Method, "
        "Mcp-Name, Last-Event-ID"
    ),
    "cors-expose-headers": "WWW-Authenticate, Mcp-Session-Id",
}
_CORS_MAX_AGE = "1728000"  # ingress-nginx's default cors-max-age


def _cors() -> str:
    """What ingress-nginx renders for CORS_ANNOTATIONS: every answer of the location gets the
    headers (more_set_headers: whatever the status, the auth's 401 included), and a preflight is
    answered 204 in the rewrite phase, before auth_request could see it."""
    allow = [
        "Access-Control-Allow-Origin: $http_origin",
        f"Access-Control-Allow-Methods: {CORS_ANNOTATIONS['cors-allow-methods']}",
        f"Access-Control-Allow-Headers: {CORS_ANNOTATIONS['cors-allow-headers']}",
        f"Access-Control-Expose-Headers: {CORS_ANNOTATIONS['cors-expose-headers']}",
        f"Access-Control-Max-Age: {_CORS_MAX_AGE}",
    ]
    preflight = [*allow, "Content-Type: text/plain charset=UTF-8", "Content-Length: 0"]

    def headers(lines: list[str]) -> str:
        return "".join(f"                more_set_headers '{line}';\n" for line in lines)

    return (
        "            set $http_origin *;\n            set $cors 'true';\n"
        "            if ($request_method = 'OPTIONS') {\n"
        "                set $cors ${cors}options;\n            }\n"
        f'            if ($cors = "true") {{\n{headers(allow)}            }}\n'
        f'            if ($cors = "trueoptions") {{\n{headers(preflight)}'
        "                return 204;\n            }\n"
    )


_NGINX_PROXY_COMMON = """\
            proxy_set_header Host $best_http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Request-ID $req_id;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Host $best_http_host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Scheme $scheme;
            proxy_set_header X-Scheme $scheme;
            proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;
            proxy_set_header Proxy "";
            proxy_buffering off;
            proxy_buffer_size 4k;
            proxy_buffers 4 4k;
            proxy_request_buffering on;
            proxy_http_version 1.1;
"""


def _nginx_server(spec: GatewaySpec, host: str) -> str:
    query = "" if spec.options.legacy_ingress_nginx_host else AUTH_QUERY
    identity = "".join(
        f"            auth_request_set $authHeader{i} "
        f"$upstream_http_{name.lower().replace('-', '_')};\n"
        f"            proxy_set_header '{name}' $authHeader{i};\n"
        for i, name in enumerate(spec.identity_headers)
    )
    # The upstream credential is one more auth-response-headers entry; a separate header also
    # needs a configuration-snippet that drops the client's token.
    upstream = spec.options.upstream_header
    if upstream is not None:
        identity += (
            f"            auth_request_set $upstreamCredential "
            f"$upstream_http_{upstream.lower().replace('-', '_')};\n"
            f"            proxy_set_header '{upstream}' $upstreamCredential;\n"
        )
        if spec.options.removes_client_authorization():
            identity += '            proxy_set_header Authorization "";\n'
    # ingress-nginx renders pathType Exact as `location = p` and Prefix as `location = p` plus
    # `location p/` (element-wise prefix: "/a" matches "/a/b", not "/ab").
    locations = [f"= {r.path}" for r in SERVICE_PATHS]
    locations += [f"{r.path}/" for r in SERVICE_PATHS if r.match == "prefix"]
    discovery = "".join(
        f"        location {location} {{\n            set $best_http_host $http_host;\n"
        f"{_NGINX_PROXY_COMMON}            proxy_pass http://gatekeeper_auth;\n        }}\n"
        for location in locations
    )
    return f"""
    server {{
        listen {LOOPBACK}:{spec.port};
        server_name {host};

        location = {_NGINX_AUTH_LOCATION} {{
            internal;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Proto "";
            proxy_set_header X-Request-ID $req_id;
            proxy_set_header Host {LOOPBACK};
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Sent-From "nginx-ingress-controller";
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Auth-Request-Redirect $request_uri;
            proxy_buffering off;
            proxy_buffer_size 4k;
            proxy_buffers 4 4k;
            proxy_request_buffering on;
            proxy_pass_request_headers on;
            client_max_body_size 1m;
            # Any proxy_set_header here drops the inherited ones, so Connection is repeated.
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            set $target http://gatekeeper_auth{AUTH_PATH}{query};
            proxy_pass $target;
        }}

        location / {{
            set $best_http_host $http_host;
{_cors()}            auth_request {_NGINX_AUTH_LOCATION};
            auth_request_set $auth_cookie $upstream_http_set_cookie;
            add_header Set-Cookie $auth_cookie;
{identity}
            # NOT rendered by ingress-nginx: needs a configuration-snippet (snippets are off by
            # default). Without it a 403 from the service loses WWW-Authenticate.
            auth_request_set $auth_www_authenticate $upstream_http_www_authenticate;
            error_page 403 = @auth403;

{_NGINX_PROXY_COMMON}            proxy_pass http://mcp_upstream;
        }}

        location @auth403 {{
            default_type application/json;
            add_header WWW-Authenticate $auth_www_authenticate always;
            return 403 '{{"error":"insufficient_scope"}}';
        }}

{discovery}    }}
"""


def nginx_conf(spec: GatewaySpec) -> str:
    d = spec.workdir
    # Workers of a root master default to user nobody, which cannot use the temp dirs here.
    user = "user root;\n" if os.geteuid() == 0 else ""
    servers = "".join(_nginx_server(spec, host) for host in spec.hosts)
    return f"""load_module {HEADERS_MORE_MODULE};
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;

    map $http_x_request_id $req_id {{ default $http_x_request_id; "" $request_id; }}
    # ingress-nginx's map when upstream-keepalive-connections > 0 (its default).
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}

    upstream gatekeeper_auth {{ server {LOOPBACK}:{spec.auth_port}; keepalive 16; }}
    upstream mcp_upstream {{ server {LOOPBACK}:{spec.upstream_port}; keepalive 16; }}

    # Unknown hosts get ingress-nginx's default-backend answer instead of the first server.
    server {{ listen {LOOPBACK}:{spec.port} default_server; return 404; }}
{servers}}}
"""
