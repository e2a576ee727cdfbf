"""The examples: valid objects, wired to the chart's Service, and the gateway settings the
integration and end-to-end tests run against real gateways ("test what you ship").

Each example's forward-auth settings are compared with the harness renderer of the same gateway
(tests/integration/harness): Envoy Gateway's SecurityPolicy and Istio's provider with Envoy's
ext_authz config, the ingress-nginx annotations with nginx as the controller renders them, the
Traefik Middleware with Traefik's ForwardAuth. The gateway options each example needs (body,
Mcp-* headers) must be a variant the end-to-end tests run.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.forward_auth.tool_calls import MAX_BODY_BYTES
from mcp_gatekeeper.oauth.token_requests import enabled_grant_types
from mcp_gatekeeper.paths import AUTHORIZATION_SERVER_PATHS
from tests.deploy.tools import (
    CHART,
    EXAMPLES,
    NAMESPACE,
    RELEASE,
    Doc,
    gateway_api_errors,
    is_gateway_api,
    kubernetes_schema_errors,
    load_yaml_docs,
    of_kind,
    only,
    render,
    run,
    tool_path,
)
from tests.integration.harness import IDENTITY_HEADERS, TRUSTED_HOST_HEADERS
from tests.integration.harness.configs import (
    AUTH_PATH,
    MCP_HEADERS,
    GatewayOptions,
    GatewaySpec,
    envoy_config,
    traefik_configs,
)
from tests.integration.harness.ingress_nginx import CORS_ANNOTATIONS, nginx_conf

EXAMPLE_DIRS = sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and p.name != "demo")
#: Files that are Helm values, not Kubernetes objects.
VALUES_FILES = {"values.yaml", "istiod-values.yaml"}
MANIFESTS = sorted(
    path for d in EXAMPLE_DIRS for path in d.glob("*.yaml") if path.name not in VALUES_FILES
)
#: Which harness gateway (and so which trustedHostHeaders family) each example runs behind.
GATEWAY_OF = {
    "envoy-gateway": "envoy",
    "dbhub": "envoy",
    "istio": "envoy",
    "ingress-nginx": "ingress-nginx",
    "agents-and-machines": "ingress-nginx",
    "tool-governance": "envoy",
    "upstream-credentials": "traefik",
    "migrating-from-mcp-oauth2-proxy": "ingress-nginx",
    "traefik": "traefik",
}
#: Envoy Gateway always sends these to an HTTP ext-auth service (headersToExtAuth adds to them).
EG_ALWAYS_SENT = {"host", "method", "path", "content-length", "authorization"}
IDENTITY = [name.lower() for name in IDENTITY_HEADERS]
SERVICE_HOST = f"{RELEASE}.{NAMESPACE}.svc.cluster.local"
HOST = "db-mcp.example.com"


def _values(example: str) -> Path:
    return EXAMPLES / example / "values.yaml"


def _service(example: str) -> tuple[str, str, int]:
    """(name, namespace, port) of the Service the chart renders with the example's values."""
    service = only(render([_values(example)]), "Service")
    return (
        service["metadata"]["name"],
        service["metadata"]["namespace"],
        service["spec"]["ports"][0]["port"],
    )


def _spec(tmp_path: Path, options: GatewayOptions) -> GatewaySpec:
    return GatewaySpec(
        port=1,
        auth_port=2,
        upstream_port=3,
        hosts=(HOST,),
        identity_headers=IDENTITY_HEADERS,
        workdir=tmp_path,
        options=options,
    )


def _envoy_ext_authz(tmp_path: Path, options: GatewayOptions) -> dict[str, Any]:
    config = json.loads(envoy_config(_spec(tmp_path, options)))
    (listener,) = config["static_resources"]["listeners"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    ext_authz: dict[str, Any] = hcm["http_filters"][0]["typed_config"]
    return ext_authz


def _patterns(matcher: dict[str, Any]) -> list[str]:
    return [pattern["exact"].lower() for pattern in matcher["patterns"]]


def _tested_variant(gateway: str, options: GatewayOptions) -> None:
    """The gateway with these options is one the end-to-end step-up test runs for real."""
    from tests.e2e.test_step_up import VARIANTS

    ran = {(v.gateway, v.options or GatewayOptions()) for v in VARIANTS.values()}
    assert (gateway, options) in ran, f"no end-to-end test runs {gateway} with {options}"


def _assert_keys(node: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(node) - allowed
    assert not unknown, f"{where}: fields not in the documented API: {sorted(unknown)}"


# --- every example ------------------------------------------------------------------------------
@pytest.mark.parametrize("directory", EXAMPLE_DIRS, ids=lambda p: p.name)
def test_every_example_has_a_readme_and_values(directory: Path) -> None:
    """Each example explains itself and installs the chart with its own values."""
    readme = (directory / "README.md").read_text()
    assert len(readme) > 500
    assert (directory / "values.yaml").is_file()
    assert directory.name in GATEWAY_OF


def test_example_manifests_are_valid() -> None:
    """Kubernetes objects pass kubernetes-validate --strict, Gateway API ones their schemas."""
    problems: list[str] = []
    gateway_api: list[Doc] = []
    custom: list[str] = []
    for path in MANIFESTS:
        for doc in load_yaml_docs(path):
            if is_gateway_api(doc):
                gateway_api.append(doc)
                continue
            try:
                problem = kubernetes_schema_errors(doc)
            except LookupError:
                custom.append(doc["kind"])  # checked field by field below
                continue
            if problem:
                problems.append(f"{path.relative_to(EXAMPLES)}: {problem}")
    problems += gateway_api_errors(gateway_api)
    assert not problems, "\n".join(problems)
    assert sorted(doc["kind"] for doc in gateway_api) == ["Gateway", "HTTPRoute", "HTTPRoute"]
    assert set(custom) == {
        "SecurityPolicy",
        "ClientTrafficPolicy",
        "Gateway",
        "VirtualService",
        "AuthorizationPolicy",
        "Middleware",
        "IngressRoute",
    }


def test_example_yaml_passes_yamllint() -> None:
    """yamllint (relaxed, long lines allowed) is clean on every example and chart values file."""
    yamllint = tool_path("yamllint", "pip install yamllint")
    files = [str(p) for d in EXAMPLE_DIRS for p in d.glob("*.yaml")]
    files += [str(CHART / "values.yaml"), *map(str, (CHART / "ci").glob("*.yaml"))]
    config = "{extends: relaxed, rules: {line-length: disable}}"
    result = run([yamllint, "-s", "-d", config, *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_agents_and_machines_grants_are_a_configuration_the_service_accepts() -> None:
    """The example's grants, as the chart renders them, pass the service's own validation, with
    every grant on and advertised."""
    rendered = only(render([_values("agents-and-machines")]), "Secret")["stringData"]
    config = yaml.safe_load(rendered["config.yaml"])
    accepted = Config.model_validate({"proxy": config["proxy"], "grants": config["grants"]})
    assert enabled_grant_types(accepted.grants) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }


@pytest.mark.parametrize("example", sorted(GATEWAY_OF), ids=str)
def test_example_reads_the_host_from_its_gateway_header_family(example: str) -> None:
    """The rendered trustedHostHeaders is the one the integration tests use for that gateway."""
    config = yaml.safe_load(only(render([_values(example)]), "Secret")["stringData"]["config.yaml"])
    assert config["proxy"]["trustedHostHeaders"] == TRUSTED_HOST_HEADERS[GATEWAY_OF[example]]


# --- Envoy Gateway (and the DBHub example, which uses it) ---------------------------------------
def _security_policy(path: Path) -> tuple[Doc, Doc]:
    docs = load_yaml_docs(path)
    return only(docs, "SecurityPolicy"), only(docs, "HTTPRoute")


@pytest.mark.parametrize(
    "path",
    [EXAMPLES / "envoy-gateway" / "mcp-server.yaml", EXAMPLES / "dbhub" / "route.yaml"],
    ids=lambda p: p.parent.name,
)
def test_security_policy_matches_the_tested_envoy_config(path: Path, tmp_path: Path) -> None:
    """extAuth is what the e2e Envoy runs: path, headers to the check and back, body limit."""
    policy, route = _security_policy(path)
    spec = policy["spec"]
    _assert_keys(spec, {"targetRefs", "extAuth"}, "SecurityPolicy.spec")
    ext_auth = spec["extAuth"]
    _assert_keys(
        ext_auth,
        {"http", "headersToExtAuth", "bodyToExtAuth", "failOpen", "timeout", "recomputeRoute"},
        "extAuth",
    )
    http = ext_auth["http"]
    _assert_keys(http, {"backendRefs", "path", "pathOverride", "headersToBackend"}, "extAuth.http")
    assert spec["targetRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "HTTPRoute",
            "name": route["metadata"]["name"],
        }
    ]
    assert policy["metadata"]["namespace"] == route["metadata"]["namespace"]

    sent = {name.lower() for name in ext_auth.get("headersToExtAuth", [])}
    body = ext_auth.get("bodyToExtAuth")
    options = GatewayOptions(
        forward_body=body is not None,
        mcp_headers=bool(sent & set(MCP_HEADERS)),
        max_body_bytes=body["maxRequestBytes"] if body else MAX_BODY_BYTES,
    )
    _tested_variant("envoy", options)
    envoy = _envoy_ext_authz(tmp_path, options)
    assert http["path"] == envoy["http_service"]["path_prefix"] == AUTH_PATH
    assert [h.lower() for h in http["headersToBackend"]] == _patterns(
        envoy["http_service"]["authorization_response"]["allowed_upstream_headers"]
    )
    assert sent | EG_ALWAYS_SENT == set(_patterns(envoy["allowed_headers"])) | EG_ALWAYS_SENT
    assert ext_auth["failOpen"] is envoy["failure_mode_allow"] is False
    if body:
        # Envoy Gateway has no partial mode: it sends the whole body or answers 413.
        assert envoy["with_request_body"] == {
            "max_request_bytes": body["maxRequestBytes"],
            "allow_partial_message": False,
        }
        assert body["maxRequestBytes"] <= MAX_BODY_BYTES
    else:
        assert "with_request_body" not in envoy


@pytest.mark.parametrize("example", ["envoy-gateway", "dbhub"])
def test_envoy_gateway_example_is_wired_to_the_chart(example: str) -> None:
    """The policy names the chart's Service, the grant admits its namespace, the routes share
    the Gateway listener, and the NetworkPolicy admits the Gateway's namespace."""
    path = EXAMPLES / example / ("route.yaml" if example == "dbhub" else "mcp-server.yaml")
    policy, route = _security_policy(path)
    name, namespace, port = _service(example)
    assert policy["spec"]["extAuth"]["http"]["backendRefs"] == [
        {"name": name, "namespace": namespace, "port": port}
    ]
    docs = render([_values(example)])
    (grant_from,) = only(docs, "ReferenceGrant")["spec"]["from"]
    assert grant_from == {
        "group": "gateway.envoyproxy.io",
        "kind": "SecurityPolicy",
        "namespace": policy["metadata"]["namespace"],
    }
    (chart_route,) = of_kind(docs, "HTTPRoute")
    assert chart_route["spec"]["hostnames"] == route["spec"]["hostnames"] == [HOST]
    assert chart_route["spec"]["parentRefs"] == route["spec"]["parentRefs"]
    gateway_namespace = route["spec"]["parentRefs"][0]["namespace"]
    values = yaml.safe_load(_values(example).read_text())
    assert values["networkPolicy"]["gatewayNamespaces"] == [gateway_namespace]


def test_envoy_gateway_platform_objects() -> None:
    """The Gateway admits both namespaces; underscore headers are refused at the edge."""
    docs = load_yaml_docs(EXAMPLES / "envoy-gateway" / "gateway.yaml")
    gateway = only(docs, "Gateway")
    (listener,) = gateway["spec"]["listeners"]
    (expression,) = listener["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"]
    assert set(expression["values"]) == {"mcp", NAMESPACE}
    policy = only(docs, "ClientTrafficPolicy")
    _assert_keys(policy["spec"], {"targetRefs", "headers"}, "ClientTrafficPolicy.spec")
    assert policy["spec"]["headers"] == {"withUnderscoresAction": "RejectRequest"}
    assert policy["spec"]["targetRefs"][0]["name"] == gateway["metadata"]["name"]


def test_dbhub_scopes_cover_exactly_the_tools_dbhub_enables() -> None:
    """Scope tools are DBHub's `<tool>_<source id>` names; writes only through db:write."""
    dbhub = load_yaml_docs(EXAMPLES / "dbhub" / "dbhub.yaml")
    toml = tomllib.loads(only(dbhub, "ConfigMap")["data"]["dbhub.toml"])
    tools = {f"{t['name']}_{t['source'].replace('-', '_')}": t for t in toml["tools"]}
    readonly = {
        name for name, t in tools.items() if t.get("readonly") or t["name"] != "execute_sql"
    }
    (host,) = yaml.safe_load((EXAMPLES / "dbhub" / "values.yaml").read_text())["proxy"]["hosts"]
    scopes = {scope["name"]: set(scope["tools"]) for scope in host["scopes"]}
    assert set().union(*scopes.values()) == set(tools)
    assert scopes["db:read"] == readonly
    assert scopes["db:write"] == set(tools) - readonly
    assert host["baseScopes"] == ["db:read"]
    # strict refuses unidentifiable tool calls: only safe when the gateway forwards the body.
    policy, route = _security_policy(EXAMPLES / "dbhub" / "route.yaml")
    assert host["toolPolicy"] == "strict" and "bodyToExtAuth" in policy["spec"]["extAuth"]
    (rule,) = route["spec"]["rules"]
    assert {
        "type": "RequestHeaderModifier",
        "requestHeaderModifier": {"remove": ["Authorization"]},
    } in (rule["filters"])
    deployment = only(dbhub, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][-2:] == ["--config", "/etc/dbhub/dbhub.toml"]
    # Database passwords come from the dbhub-db Secret through the environment, never the file.
    assert all(re.fullmatch(r"\$\{[A-Z_]+\}", source["password"]) for source in toml["sources"])
    admitted = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in only(dbhub, "NetworkPolicy")["spec"]["ingress"][0]["from"]
    }
    assert admitted == {route["spec"]["parentRefs"][0]["namespace"], NAMESPACE}
    assert host["endpoint"] == "http://dbhub.mcp.svc.cluster.local:8080/mcp"


# --- ingress-nginx ------------------------------------------------------------------------------
def _nginx_location(conf: str, head: str) -> list[str]:
    """The statements of the first ``location <head> { ... }`` block (nested blocks included,
    one line each), comments dropped."""
    opening = f"location {head} {{\n"
    assert opening in conf, f"no location {head} in the harness's nginx.conf"
    lines, depth = [], 1
    for line in conf.split(opening, 1)[1].splitlines():
        depth += line.count("{") - line.count("}")
        if depth == 0:
            break
        if line.strip() and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


def test_ingress_nginx_annotations_match_the_tested_nginx(tmp_path: Path) -> None:
    """auth-url path and auth-response-headers are what the harness's nginx runs; nothing else."""
    _tested_variant("ingress-nginx", GatewayOptions())
    ingress = only(load_yaml_docs(EXAMPLES / "ingress-nginx" / "mcp-server.yaml"), "Ingress")
    annotations = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    # auth-method, auth-keepalive, auth-signin, auth-snippet, auth-cache-*: none is rendered by
    # the harness, and keepalive/signin break the 401 challenge.
    cors = {prefix + name: value for name, value in CORS_ANNOTATIONS.items()}
    assert set(annotations) == {prefix + "auth-url", prefix + "auth-response-headers", *cors}
    assert {name: annotations[name] for name in cors} == cors
    conf = nginx_conf(_spec(tmp_path, GatewayOptions()))
    auth = _nginx_location(conf, "= /_external-auth-Lw-Prefix")
    (target,) = [s for s in auth if s.startswith("set $target ")]
    auth_url = urlsplit(annotations[prefix + "auth-url"])
    tested = urlsplit(target.split()[-1].rstrip(";"))
    assert auth_url.path == tested.path == AUTH_PATH
    # nginx's $host: the host it routed on, which trustedHostHeaders: query reads.
    assert auth_url.query == tested.query == "host=$host&end=1"
    name, namespace, port = _service("ingress-nginx")
    assert auth_url.scheme == "http"
    assert auth_url.netloc == f"{name}.{namespace}.svc.cluster.local" + (
        "" if port == 80 else f":{port}"
    )
    assert "proxy_pass_request_body off;" in auth  # ingress-nginx never sends the body
    copied = re.findall(r"proxy_set_header '([^']+)' \$authHeader\d+;", conf)
    assert annotations[prefix + "auth-response-headers"].split(",") == copied
    assert [h.lower() for h in copied] == IDENTITY


def test_ingress_nginx_auth_urls_name_the_routed_host() -> None:
    """Every auth-url to mcp-gatekeeper's Service in the examples carries ?host=$host&end=1 (the old
    one without it is unsafe: X-Original-URL repeats the client's Host header)."""
    sources = [
        EXAMPLES / "ingress-nginx" / "mcp-server.yaml",
        EXAMPLES / "migrating-from-mcp-oauth2-proxy" / "README.md",
        EXAMPLES / "dbhub" / "README.md",
    ]
    shown = [
        url
        for source in sources
        for url in re.findall(r'auth-url: "(http://[^"]+)"', source.read_text())
    ]
    assert len(shown) == len(sources), shown
    assert all(url.endswith("/authenticate?host=$host&end=1") for url in shown), shown


def test_ingress_nginx_step_up_snippet_is_the_tested_one(tmp_path: Path) -> None:
    """The README's snippet annotations are the workaround the harness's nginx runs."""
    readme = (EXAMPLES / "ingress-nginx" / "README.md").read_text()
    (block,) = [
        b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "configuration-snippet" in b
    ]
    snippets = yaml.safe_load("\n".join(line[2:] for line in block.splitlines()))
    conf = nginx_conf(_spec(tmp_path, GatewayOptions()))
    location = _nginx_location(conf, "/")
    configuration = snippets["nginx.ingress.kubernetes.io/configuration-snippet"].splitlines()
    assert configuration and all(line.strip() in location for line in configuration)
    server = [
        line.strip() for line in snippets["nginx.ingress.kubernetes.io/server-snippet"].splitlines()
    ]
    assert server[0] == "location @auth403 {" and server[-1] == "}"
    assert server[1:-1] == _nginx_location(conf, "@auth403")


def test_ingress_nginx_example_is_wired_to_the_chart() -> None:
    """The chart's Ingress serves the same host and class as the MCP server's Ingress."""
    mcp = only(load_yaml_docs(EXAMPLES / "ingress-nginx" / "mcp-server.yaml"), "Ingress")
    chart = only(render([_values("ingress-nginx")]), "Ingress")
    assert chart["spec"]["ingressClassName"] == mcp["spec"]["ingressClassName"] == "nginx"
    assert [r["host"] for r in chart["spec"]["rules"]] == [r["host"] for r in mcp["spec"]["rules"]]
    assert chart["spec"]["tls"] == mcp["spec"]["tls"]
    # The unauthenticated authorization-server paths are rate-limited per client address.
    assert chart["metadata"]["annotations"]["nginx.ingress.kubernetes.io/limit-rps"] == "10"


# --- Istio --------------------------------------------------------------------------------------
def test_istio_provider_matches_the_tested_envoy_config(tmp_path: Path) -> None:
    """envoyExtAuthzHttp maps one-to-one onto the ext_authz config the e2e Envoy runs."""
    mesh = yaml.safe_load((EXAMPLES / "istio" / "istiod-values.yaml").read_text())
    (provider,) = mesh["meshConfig"]["extensionProviders"]
    config = provider["envoyExtAuthzHttp"]
    _assert_keys(
        config,
        {
            "service", "port", "pathPrefix", "timeout", "failOpen", "statusOnError",
            "includeRequestHeadersInCheck", "includeAdditionalHeadersInCheck",
            "includeRequestBodyInCheck", "headersToUpstreamOnAllow", "headersToDownstreamOnDeny",
            "headersToDownstreamOnAllow",
        },
        "envoyExtAuthzHttp",
    )  # fmt: skip
    body = config.get("includeRequestBodyInCheck")
    sent = {name.lower() for name in config["includeRequestHeadersInCheck"]}
    options = GatewayOptions(
        forward_body=body is not None,
        mcp_headers=bool(sent & set(MCP_HEADERS)),
        max_body_bytes=body["maxRequestBytes"] if body else MAX_BODY_BYTES,
    )
    _tested_variant("envoy", options)
    envoy = _envoy_ext_authz(tmp_path, options)
    assert config["pathPrefix"] == envoy["http_service"]["path_prefix"]
    # Istio sends only Host, method, path and Content-Length by default: Authorization is listed.
    assert sent == set(_patterns(envoy["allowed_headers"]))
    assert [h.lower() for h in config["headersToUpstreamOnAllow"]] == _patterns(
        envoy["http_service"]["authorization_response"]["allowed_upstream_headers"]
    )
    assert config["failOpen"] is envoy["failure_mode_allow"] is False
    assert "headersToDownstreamOnDeny" not in config
    if body:
        assert envoy["with_request_body"] == {
            "max_request_bytes": body["maxRequestBytes"],
            "allow_partial_message": body["allowPartialMessage"],
        }
    name, namespace, port = _service("istio")
    assert (config["service"], config["port"]) == (f"{name}.{namespace}.svc.cluster.local", port)


def test_istio_routes_and_policy_cover_the_same_paths() -> None:
    """The VirtualService sends the paths to the chart's Service; the policy skips exactly them."""
    docs = load_yaml_docs(EXAMPLES / "istio" / "mcp-server.yaml")
    virtual_service = only(docs, "VirtualService")
    _assert_keys(virtual_service["spec"], {"hosts", "gateways", "http"}, "VirtualService.spec")
    authorization_server, mcp_server = virtual_service["spec"]["http"]
    matched = sorted(
        (value, {"exact": "exact", "prefix": "prefix"}[kind])
        for match in authorization_server["match"]
        for kind, value in match["uri"].items()
    )
    assert matched == sorted((p.path, p.match) for p in AUTHORIZATION_SERVER_PATHS)
    name, namespace, port = _service("istio")
    assert authorization_server["route"] == [
        {"destination": {"host": f"{name}.{namespace}.svc.cluster.local", "port": {"number": port}}}
    ]
    assert "match" not in mcp_server

    policy = only(docs, "AuthorizationPolicy")
    spec = policy["spec"]
    _assert_keys(spec, {"selector", "action", "provider", "rules"}, "AuthorizationPolicy.spec")
    assert spec["action"] == "CUSTOM"
    mesh = yaml.safe_load((EXAMPLES / "istio" / "istiod-values.yaml").read_text())
    assert spec["provider"]["name"] == mesh["meshConfig"]["extensionProviders"][0]["name"]
    gateway = only(docs, "Gateway")
    assert spec["selector"]["matchLabels"] == gateway["spec"]["selector"]
    (rule,) = spec["rules"]
    (to,) = rule["to"]
    operation = to["operation"]
    assert set(operation["hosts"]) == {HOST, f"{HOST}:*"}
    expected = []
    for routed in AUTHORIZATION_SERVER_PATHS:
        expected.append(routed.path)
        if routed.match == "prefix":
            expected.append(routed.path + "/*")
    assert sorted(operation["notPaths"]) == sorted(expected)
    assert virtual_service["spec"]["hosts"] == gateway["spec"]["servers"][0]["hosts"] == [HOST]
    values = yaml.safe_load(_values("istio").read_text())
    assert values["networkPolicy"]["gatewayNamespaces"] == [policy["metadata"]["namespace"]]
    assert (
        values["networkPolicy"]["gatewayPodSelector"]["matchLabels"]
        == (spec["selector"]["matchLabels"])
    )


# --- Traefik ------------------------------------------------------------------------------------
def test_traefik_middleware_matches_the_tested_forward_auth(tmp_path: Path) -> None:
    """forwardAuth is what the harness's Traefik runs: address path, headers, no body."""
    docs = load_yaml_docs(EXAMPLES / "traefik" / "mcp-server.yaml")
    forward_auth = only(docs, "Middleware")["spec"]["forwardAuth"]
    _assert_keys(
        forward_auth,
        {
            "address", "trustForwardHeader", "authResponseHeaders", "authResponseHeadersRegex",
            "authRequestHeaders", "forwardBody", "maxBodySize", "preserveRequestMethod",
            "maxResponseBodySize", "tls",
        },
        "forwardAuth",
    )  # fmt: skip
    options = GatewayOptions(forward_body=bool(forward_auth.get("forwardBody")))
    _tested_variant("traefik", options)
    _static, dynamic = traefik_configs(_spec(tmp_path, options), tmp_path / "dynamic.yml")
    tested = json.loads(dynamic)["http"]["middlewares"]["gatekeeper"]["forwardAuth"]
    address = urlsplit(forward_auth["address"])
    assert address.path == urlsplit(tested["address"]).path == AUTH_PATH
    assert {k: v for k, v in forward_auth.items() if k != "address"} == {
        k: v for k, v in tested.items() if k != "address"
    }
    name, namespace, port = _service("traefik")
    assert address.netloc == f"{name}.{namespace}.svc.cluster.local" + (
        "" if port == 80 else f":{port}"
    )
    route = only(docs, "IngressRoute")
    (entry,) = route["spec"]["routes"]
    assert entry["match"] == f"Host(`{HOST}`)"
    assert entry["middlewares"] == [{"name": only(docs, "Middleware")["metadata"]["name"]}]
    chart = only(render([_values("traefik")]), "Ingress")
    assert chart["spec"]["ingressClassName"] == "traefik"
    assert [r["host"] for r in chart["spec"]["rules"]] == [HOST]
