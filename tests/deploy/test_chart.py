"""The Helm chart, with the real helm binary: lint, render, validate, and what it promises."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_gatekeeper.cli import main as gatekeeper_main
from mcp_gatekeeper.config import Config
from mcp_gatekeeper.config.model import TrustedHostHeaders
from mcp_gatekeeper.config.store import StoreConfig
from mcp_gatekeeper.paths import AUTHORIZATION_SERVER_PATHS
from tests.deploy.tools import (
    CHART,
    EXAMPLES,
    NAMESPACE,
    Doc,
    gateway_api_errors,
    helm_binary,
    is_gateway_api,
    kubernetes_schema_errors,
    of_kind,
    only,
    render,
    run,
    template_error,
)

PATHS_FILE = CHART / "files" / "authorization-server-paths.json"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
EXAMPLE_VALUES = sorted(EXAMPLES.glob("*/values.yaml"))
ALL_VALUES = CI_VALUES + EXAMPLE_VALUES
#: Custom resources the chart renders that no offline schema covers: checked field by field.
MONITORING_KINDS = {"PodMonitor", "ServiceMonitor", "PrometheusRule"}
SECRETS_DIR = "/etc/mcp-gatekeeper/secrets"
FULLNAME = "mcp-gatekeeper"
#: A real Fernet key for the Secrets the tests lay out (check-config decodes it).
FERNET_KEY = "0HqM6gFPZ4v1bbJ8F2Jwuv8vLbE0nMxOBUmpBC9mCDA="
BASE = CHART / "ci" / "one-host-values.yaml"


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _container(docs: list[Doc]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = only(docs, "Deployment")["spec"]["template"]["spec"][
        "containers"
    ]
    assert len(containers) == 1
    return containers[0]


def _rendered_config(docs: list[Doc]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(only(docs, "Secret")["stringData"]["config.yaml"])
    return config


def test_paths_file_is_the_output_of_mcp_gatekeeper_paths() -> None:
    """The chart routes exactly the list `mcp-gatekeeper paths` prints (regenerate on change)."""
    result = run([str(Path(sys.executable).parent / "mcp-gatekeeper"), "paths"])
    assert result.returncode == 0, result.stderr
    assert PATHS_FILE.read_text() == result.stdout, (
        f"run: mcp-gatekeeper paths > {PATHS_FILE.relative_to(CHART.parents[1])}"
    )
    assert json.loads(result.stdout) == [
        {"path": p.path, "match": p.match} for p in AUTHORIZATION_SERVER_PATHS
    ]


@pytest.mark.parametrize("values", ALL_VALUES, ids=_id)
def test_helm_lint_passes(values: Path) -> None:
    """`helm lint` (templates and values.schema.json) passes for every shipped value set."""
    result = run([helm_binary(), "lint", str(CHART), "--strict", "--values", str(values)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", ALL_VALUES, ids=_id)
def test_rendered_objects_are_valid_kubernetes(values: Path) -> None:
    """Every rendered object passes kubernetes-validate --strict, or is a known custom resource."""
    problems: list[str] = []
    gateway_api: list[Doc] = []
    for doc in render([values]):
        if is_gateway_api(doc):
            gateway_api.append(doc)
            continue
        if doc["kind"] in MONITORING_KINDS:
            continue  # test_monitors_scrape_the_metrics_port, test_alerts.py
        problem = kubernetes_schema_errors(doc)
        if problem:
            problems.append(problem)
    problems += gateway_api_errors(gateway_api) if gateway_api else []
    assert not problems, "\n".join(problems)


def _lay_out_pod_files(docs: list[Doc], root: Path) -> Path:
    """Write the projected volume as the pod sees it under ``root``; return the config path.

    The chart's own Secret supplies its keys; an existing Secret (made outside the chart) is
    stood in for by a plausible value of the kind the file holds.
    """
    own = only(docs, "Secret")
    container = _container(docs)
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
    base: Path = root / mount["mountPath"].lstrip("/")
    for source in volume["projected"]["sources"]:
        secret = source["secret"]
        for item in secret["items"]:
            target = base / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            if secret["name"] == own["metadata"]["name"]:
                value = own["stringData"][item["key"]]
            elif "encryption-key" in item["path"]:
                value = FERNET_KEY
            elif item["path"].endswith(".json"):
                value = _fake_service_account_key()
            else:
                value = "an-existing-secret-value-of-some-length"
            target.write_text(value + "\n")
    config = base / "config.yaml"
    text = config.read_text().replace(mount["mountPath"], str(base))
    # Secrets the values mount themselves (volumes + volumeMounts) for a ...File setting: each
    # file the configuration names under such a mount is laid out too.
    secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
    for extra in container["volumeMounts"]:
        if extra["name"] not in secret_volumes:
            continue
        where = root / extra["mountPath"].lstrip("/")
        for named in re.findall(re.escape(extra["mountPath"]) + r"/[\w.-]+", text):
            target = where / named.rsplit("/", 1)[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("an-existing-secret-value-of-some-length\n")
        text = text.replace(extra["mountPath"], str(where))
    config.write_text(text)
    return config


def _fake_service_account_key() -> str:
    return json.dumps({"client_email": "sa@example.iam.gserviceaccount.com"})


@pytest.mark.parametrize("values", ALL_VALUES, ids=_id)
def test_rendered_config_passes_check_config(
    values: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`mcp-gatekeeper check-config` accepts the rendered file, with the pod's Secrets and env."""
    docs = render([values])
    config = _lay_out_pod_files(docs, tmp_path)
    for name in [n for n in os.environ if n.startswith("MCP_GATEKEEPER_")]:
        monkeypatch.delenv(name)
    for entry in _container(docs).get("env", []):
        if entry["name"].startswith("MCP_GATEKEEPER_") and "value" in entry:
            monkeypatch.setenv(entry["name"], entry["value"])
    code = gatekeeper_main(["check-config", "--config", str(config)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "configuration OK" in out.out


def test_config_never_holds_a_secret_value() -> None:
    """Inline secrets stay in their own Secret keys; config.yaml and env only name files."""
    docs = render(
        [CHART / "ci" / "sqlite-pvc-values.yaml"],
        ["store.url=redis://redis:6379/0", "store.password=redis-pass-123", "replicaCount=2"],
    )
    config_text = only(docs, "Secret")["stringData"]["config.yaml"]
    for secret in ("not-a-real-secret", "redis-pass-123", FERNET_KEY):
        assert secret not in config_text
        assert secret not in json.dumps(_container(docs))
    config = _rendered_config(docs)
    assert config["provider"]["clientSecretFile"] == f"{SECRETS_DIR}/client-secret"
    assert config["store"] == {
        "url": "redis://redis:6379/0",
        "passwordFile": f"{SECRETS_DIR}/store-password",
        "encryptionKeyFile": f"{SECRETS_DIR}/store-encryption-key",
    }
    assert not of_kind(docs, "ConfigMap")


def test_existing_secrets_are_mounted_not_copied() -> None:
    """With existingSecret the chart's Secret holds only config.yaml; the pod mounts the others."""
    docs = render([CHART / "ci" / "redis-replicas-values.yaml"])
    assert set(only(docs, "Secret")["stringData"]) == {"config.yaml"}
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
    mounted = {
        (s["secret"]["name"], item["key"], item["path"])
        for s in volume["projected"]["sources"]
        for item in s["secret"]["items"]
    }
    assert mounted == {
        (FULLNAME, "config.yaml", "config.yaml"),
        ("mcp-gatekeeper-idp", "client-secret", "secrets/client-secret"),
        ("mcp-gatekeeper-redis", "password", "secrets/store-password"),
        ("mcp-gatekeeper-store-key", "encryption-key", "secrets/store-encryption-key"),
    }


def test_config_change_rolls_the_pods() -> None:
    """The pod template's checksum follows the configuration."""

    def checksum(*sets: str) -> str:
        deployment = only(render([BASE], sets), "Deployment")
        value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum() != checksum("proxy.disableConsentScreen=true")
    assert checksum() == checksum()


def test_hardened_by_default() -> None:
    """Non-root, read-only root, no capabilities, seccomp, no token, probes on /healthz, /readyz."""
    docs = render([BASE])
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    container = _container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert only(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["args"] == ["serve", "--config", "/etc/mcp-gatekeeper/config.yaml"]
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}


def test_pre_stop_sleep_only_where_kubernetes_has_it() -> None:
    """Before 1.30 the native sleep action is left out, and the object is valid for that version."""
    docs = render([BASE], kube_version="1.29.0")
    assert "lifecycle" not in _container(docs)
    assert kubernetes_schema_errors(only(docs, "Deployment"), "1.29.0") is None


REFUSED = [
    (["provider.clientIDD=x"], "Additional property clientIDD is not allowed"),
    (["proxy.hosts[0].hots=x"], "Additional property hots is not allowed"),
    (["replicaCount=2"], "replicaCount: Must be less than or equal to 1"),
    (["autoscaling.enabled=true"], "autoscaling.enabled does not match: false"),
    (["server.workers=2"], "server.workers: Must be less than or equal to 1"),
    (["provider.clientSecret="], "provider.clientSecret: String length must be greater"),
    (["provider.name=demo"], "provider.name must be one of the following"),
    (["store.url=redis://user:pass@redis:6379/0"], "store.url: Does not match pattern"),
    (["store.url=redis://redis:6379/0"], "store.encryptionKey: String length must be greater"),
    (
        [
            "store.url=sqlite:///var/lib/mcp-gatekeeper/state.db",
            f"store.encryptionKey={FERNET_KEY}",
        ],
        "store.persistence.enabled does not match: true",
    ),
    (["store.url=sqlite:///tmp/state.db"], "store.url: Does not match pattern"),
    (["httpRoute.enabled=true"], "httpRoute.parentRefs: Array must have at least 1 items"),
    (["proxy.trustedHostHeaders=x-forwarded-host"], "trustedHostHeaders must be one of"),
    (["proxy.hosts[0].host=DB.example.com"], "proxy.hosts.0.host: Does not match pattern"),
]


@pytest.mark.parametrize(
    ("sets", "message"), [pytest.param(*case, id=case[0][0].split("=")[0]) for case in REFUSED]
)
def test_schema_refuses(sets: list[str], message: str) -> None:
    """values.schema.json stops typos, a lone store shared by replicas, and missing secrets."""
    assert message in template_error([BASE], sets)


def test_several_replicas_and_workers_with_redis() -> None:
    """With a Redis store: replicas, workers and the HPA render, spread and with a PDB."""
    docs = render([CHART / "ci" / "redis-replicas-values.yaml"])
    deployment = only(docs, "Deployment")
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    assert only(docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 3
    assert only(docs, "PodDisruptionBudget")["spec"] == {
        "selector": deployment["spec"]["selector"],
        "maxUnavailable": 1,
    }
    assert _rendered_config(docs)["server"]["workers"] == 2
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [c["labelSelector"] for c in spread] == [deployment["spec"]["selector"]] * 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}


def test_sqlite_store_on_a_claim_with_recreate() -> None:
    """sqlite: a kept PVC mounted at the state directory, and no two pods on it at once."""
    docs = render([CHART / "ci" / "sqlite-pvc-values.yaml"])
    claim = only(docs, "PersistentVolumeClaim")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert {"name": "state", "mountPath": "/var/lib/mcp-gatekeeper"} in _container(docs)[
        "volumeMounts"
    ]
    assert _rendered_config(docs)["store"]["url"].startswith("sqlite:///var/lib/mcp-gatekeeper/")


EXPECTED = sorted((p.path, p.match) for p in AUTHORIZATION_SERVER_PATHS)


def test_ingress_routes_the_paths_on_every_host() -> None:
    """One rule per MCP host with every authorization-server path, dotted ones as prefixes."""
    docs = render(
        [BASE],
        ["proxy.hosts[1].host=k8s-mcp.example.com:8443", "proxy.issuer=https://auth.example.com"],
    )
    ingress = only(docs, "Ingress")
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert hosts == ["db-mcp.example.com", "k8s-mcp.example.com", "auth.example.com"]
    for rule in ingress["spec"]["rules"]:
        for entry, routed in zip(rule["http"]["paths"], AUTHORIZATION_SERVER_PATHS, strict=True):
            assert entry["path"] == routed.path
            assert entry["backend"]["service"] == {"name": FULLNAME, "port": {"name": "http"}}
            # ingress-nginx's strict path validation refuses dots in Exact/Prefix paths;
            # ImplementationSpecific is a prefix location there.
            wanted = {"exact": "Exact", "prefix": "Prefix"}[routed.match]
            assert entry["pathType"] == ("ImplementationSpecific" if "." in routed.path else wanted)


def test_httproutes_route_the_paths_on_every_host() -> None:
    """One HTTPRoute per host (and the issuer's), Exact/PathPrefix as the list says."""
    docs = render([CHART / "ci" / "many-hosts-values.yaml"])
    routes = of_kind(docs, "HTTPRoute")
    assert [r["spec"]["hostnames"] for r in routes] == [
        ["db-mcp.example.com"],
        ["k8s-mcp.example.com"],
        ["git-mcp.example.com"],
        ["auth.example.com"],
    ]
    for route in routes:
        (rule,) = route["spec"]["rules"]
        matches = [
            (m["path"]["value"], {"Exact": "exact", "PathPrefix": "prefix"}[m["path"]["type"]])
            for m in rule["matches"]
        ]
        assert sorted(matches) == EXPECTED
        assert rule["backendRefs"] == [{"name": FULLNAME, "port": 80}]
        assert route["spec"]["parentRefs"] == [
            {"name": "eg", "namespace": "envoy-gateway-system", "sectionName": "https"}
        ]
    grant = only(docs, "ReferenceGrant")
    assert grant["spec"] == {
        "from": [{"group": "gateway.envoyproxy.io", "kind": "SecurityPolicy", "namespace": "mcp"}],
        "to": [{"group": "", "kind": "Service", "name": FULLNAME}],
    }


def test_trusted_host_headers_follow_the_gateway_kind() -> None:
    """ingress-nginx names the routed host in the auth-url's query, Gateway API gateways in the
    Host; explicit wins."""

    def family(values: Path, *sets: str) -> str:
        value: str = _rendered_config(render([values], sets))["proxy"]["trustedHostHeaders"]
        return value

    assert family(BASE) == "query"
    assert family(BASE, "proxy.trustedHostHeaders=x-original-url") == "x-original-url"
    assert family(CHART / "ci" / "many-hosts-values.yaml") == "host"
    assert family(CHART / "ci" / "existing-secret-values.yaml") == "x-forwarded"


def test_network_policy_admits_the_named_namespaces() -> None:
    """The gateway's and Prometheus's namespaces reach the http port; nobody named: nobody."""
    docs = render([CHART / "ci" / "many-hosts-values.yaml"])
    policy = only(docs, "NetworkPolicy")["spec"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    namespaces = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in rule["from"]
        if "namespaceSelector" in peer
    ]
    assert namespaces == ["envoy-gateway-system", "monitoring"]
    assert {"podSelector": {}} in rule["from"]
    closed = render(
        [BASE], ["networkPolicy.allowSameNamespace=false", "networkPolicy.gatewayNamespaces=null"]
    )
    assert only(closed, "NetworkPolicy")["spec"]["ingress"] == []


def test_monitors_scrape_the_metrics_port() -> None:
    """PodMonitor and ServiceMonitor select the pods/Service and scrape http:/metrics."""
    docs = render([CHART / "ci" / "many-hosts-values.yaml"])
    selector = only(docs, "Deployment")["spec"]["selector"]
    for kind, endpoints in (("PodMonitor", "podMetricsEndpoints"), ("ServiceMonitor", "endpoints")):
        monitor = only(docs, kind)
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["namespace"] == NAMESPACE
        assert monitor["spec"]["selector"] == selector
        (endpoint,) = monitor["spec"][endpoints]
        assert endpoint["port"] == "http"
        assert endpoint["path"] == "/metrics"
        assert set(endpoint) <= {
            "port", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
            "honorTimestamps", "relabelings", "metricRelabelings",
        }  # fmt: skip
    assert only(docs, "ServiceMonitor")["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service_ports = only(docs, "Service")["spec"]["ports"]
    assert [p["name"] for p in service_ports] == ["http"]


def _notes(values: Path, *sets: str) -> str:
    """NOTES.txt as `helm install` prints it (helm template skips it, so render it through tpl)."""
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "chart"
        shutil.copytree(CHART, chart)
        (chart / "files" / "NOTES.txt").write_text((CHART / "templates" / "NOTES.txt").read_text())
        (chart / "templates" / "zz-notes.yaml").write_text(
            'notes: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}\n'
        )
        cmd = [helm_binary(), "template", "mcp-gatekeeper", str(chart), "-n", NAMESPACE]
        cmd += ["--values", str(values), "--show-only", "templates/zz-notes.yaml"]
        for assignment in sets:
            cmd += ["--set", assignment]
        result = run(cmd)
        assert result.returncode == 0, result.stderr
        notes: str = yaml.safe_load(result.stdout)["notes"]
        return notes


def test_notes_tell_the_next_step() -> None:
    """NOTES.txt prints the auth-url annotation or the SecurityPolicy for the MCP server's route."""
    nginx = _notes(BASE)
    assert (
        'nginx.ingress.kubernetes.io/auth-url: "http://mcp-gatekeeper.mcp-gatekeeper.svc.'
        'cluster.local/authenticate?host=$host&end=1"' in nginx
    )
    assert "auth-response-headers" in nginx and "enable-cors" in nginx
    assert "It reads the MCP host from: query" in nginx and "WARNING" not in nginx
    assert "helm test mcp-gatekeeper -n mcp-gatekeeper --logs" in nginx
    envoy = _notes(EXAMPLES / "envoy-gateway" / "values.yaml")
    assert "kind: SecurityPolicy" in envoy
    assert "backendRefs: [{name: mcp-gatekeeper, namespace: mcp-gatekeeper, port: 80}]" in envoy
    assert "path: /authenticate" in envoy
    traefik = _notes(EXAMPLES / "traefik" / "values.yaml")
    assert "ForwardAuth Middleware" in traefik
    assert "nginx.ingress.kubernetes.io" not in traefik
    assert "WARNING: proxy.trustedHostHeaders is query" in _notes(BASE, "ingress.className=traefik")
    unrouted = _notes(EXAMPLES / "istio" / "values.yaml")
    assert "route them yourself" in unrouted
    both = _notes(EXAMPLES / "envoy-gateway" / "values.yaml", "ingress.enabled=true")
    assert "one kind of gateway" not in both  # trustedHostHeaders is set explicitly there
    assert "one kind of gateway" in _notes(
        BASE, "httpRoute.enabled=true", "httpRoute.parentRefs[0].name=eg"
    )


def test_notes_warn_against_x_original_url_behind_ingress_nginx() -> None:
    """The auth-url always carries ?host=$host&end=1; a family that ignores it is named, and
    x-original-url with the reason (the controller builds it from the client's Host)."""
    legacy = _notes(BASE, "proxy.trustedHostHeaders=x-original-url")
    assert '/authenticate?host=$host&end=1"' in legacy
    assert "WARNING: proxy.trustedHostHeaders is x-original-url" in legacy
    assert "set it to query" in legacy and "client's Host header" in legacy
    assert "set it to query" in _notes(BASE, "proxy.trustedHostHeaders=host")


def _schema_paths(node: dict[str, Any], prefix: str) -> list[str]:
    paths = []
    for key, child in node.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        paths.append(path)
        paths += _schema_paths(child, path)
        if child.get("type") == "array" and "properties" in child.get("items", {}):
            paths += _schema_paths(child["items"], path + "[]")
    return paths


def test_readme_lists_every_value() -> None:
    """Every value values.schema.json knows is in the chart README's tables."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    listed = set(re.findall(r"^\| `([^`]+)` \|", (CHART / "README.md").read_text(), re.M))
    leaves = [
        path
        for path in _schema_paths(schema, "")
        # A parent is listed through its children (provider.github -> provider.github.webURL).
        if not any(other.startswith(path + ".") for other in _schema_paths(schema, ""))
        or path in listed
    ]
    missing = [path for path in leaves if path not in listed]
    assert not missing, f"values missing from charts/mcp-gatekeeper/README.md: {missing}"


def _aliases(model: Any) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _field_type(model: Any, name: str) -> Any:
    """The model a field holds, through ``list[...]`` and ``... | None``."""
    annotation = model.model_fields[name].annotation
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return args[0] if args else annotation


def test_schema_follows_the_configuration_model() -> None:
    """The chart's schema offers exactly the settings the service's configuration has."""
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]
    hosts = schema["proxy"]["properties"]["hosts"]["items"]["properties"]
    assert set(hosts) == _aliases(_field_type(_field_type(Config, "proxy"), "hosts"))
    families = schema["proxy"]["properties"]["trustedHostHeaders"]["enum"]
    assert families == ["", *typing.get_args(TrustedHostHeaders)]  # "": the chart derives it
    host_model = _field_type(_field_type(Config, "proxy"), "hosts")
    policy = typing.get_args(host_model.model_fields["tool_policy"].annotation)
    assert hosts["toolPolicy"]["enum"] == list(policy)
    for section in ("tokens", "clients"):
        assert set(schema[section]["properties"]) == _aliases(_field_type(Config, section))
    documents = _field_type(_field_type(Config, "clients"), "metadata_documents")
    assert set(schema["clients"]["properties"]["metadataDocuments"]["properties"]) == _aliases(
        documents
    )
    # store: secrets are ...File references to mounted Secrets, the rest one to one.
    chart_store = set(schema["store"]["properties"])
    secret_fields = {"password", "encryptionKey", "previousEncryptionKeys"}
    plain = _aliases(StoreConfig) - secret_fields
    assert plain <= chart_store
    assert {"password", "existingSecret", "encryptionKey", "encryptionKeyExistingSecret"} <= (
        chart_store
    )
    server = set(schema["server"]["properties"])
    assert server == _aliases(_field_type(Config, "server")) - {"host", "port", "adminToken"}


def test_helm_test_probes_every_mcp_url_through_the_gateway() -> None:
    """`helm test` runs one hardened probe Pod per host, which no Service selects."""
    docs = render([CHART / "ci" / "many-hosts-values.yaml"], ["helmTest.extraArgs={--json}"])
    hosts = yaml.safe_load((CHART / "ci" / "many-hosts-values.yaml").read_text())["proxy"]["hosts"]
    pods = of_kind(docs, "Pod")
    assert [pod["metadata"]["annotations"]["helm.sh/hook"] for pod in pods] == ["test"] * len(hosts)
    urls = [f"https://{host['host']}{host.get('path', '/mcp')}" for host in hosts]
    assert [pod["spec"]["containers"][0]["args"] for pod in pods] == [
        ["probe", url, "--json"] for url in urls
    ]
    selector = only(docs, "Service")["spec"]["selector"]
    deployment = _container(docs)
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert not selector.items() <= labels.items(), "the Service would send traffic to it"
        (container,) = pod["spec"]["containers"]
        assert container["image"] == deployment["image"]
        assert container["securityContext"] == deployment["securityContext"]
        assert pod["spec"]["restartPolicy"] == "Never"
        assert pod["spec"]["automountServiceAccountToken"] is False
    assert of_kind(render([BASE], ["helmTest.enabled=false"]), "Pod") == []


def test_notes_name_the_upstream_credential_header_to_copy() -> None:
    """A host with ``upstream`` gets told which answer header the gateway must pass on."""
    plain = _notes(BASE)
    assert "UPSTREAM CREDENTIALS" not in plain
    notes = _notes(
        BASE,
        "proxy.hosts[0].upstream.source=login",
        "proxy.hosts[0].upstream.name=GitHub",
        "proxy.hosts[0].upstream.header=X-Upstream-Token",
    )
    assert "UPSTREAM CREDENTIALS" in notes
    assert "the GitHub credential in X-Upstream-Token" in notes
    assert "headersToBackend" in notes and "drop the client's Authorization" in notes
