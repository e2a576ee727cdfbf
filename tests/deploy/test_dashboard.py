"""The chart's Grafana dashboard: shipped as the sidecar expects it, every query valid PromQL
(promtool parses them), on series a fresh service really exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.test_alerts import fresh_service_samples, promtool
from tests.deploy.tools import CHART, ROOT, only, render

DASHBOARD = CHART / "files" / "grafana-dashboard.json"
#: Grafana's variables, as Grafana would fill them in.
VARIABLES = {"$__rate_interval": "1m", "$namespace": "mcp-gatekeeper", "${datasource}": "p"}


def queries() -> list[str]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    found = [target["expr"] for panel in panels for target in panel["targets"]]
    for name, value in VARIABLES.items():
        found = [query.replace(name, value) for query in found]
    return found


def test_the_configmap_carries_the_dashboard_for_the_sidecar() -> None:
    docs = render([CHART / "ci" / "many-hosts-values.yaml"])
    (configmap,) = [doc for doc in docs if doc["metadata"]["name"].endswith("-dashboard")]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["mcp-gatekeeper.json"]) == json.loads(DASHBOARD.read_text())
    assert not [
        doc for doc in render([CHART / "ci" / "one-host-values.yaml"]) if doc["kind"] == "ConfigMap"
    ]
    assert only(docs, "ConfigMap")["metadata"]["namespace"] == configmap["metadata"]["namespace"]


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    rules = [{"record": f"dashboard:query_{i}", "expr": query} for i, query in enumerate(queries())]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(rules) >= 10


async def test_queries_name_series_the_service_exposes() -> None:
    samples = await fresh_service_samples()
    exposed = {sample.name for sample in samples}
    text = " ".join(queries())
    for name in set(re.findall(r"\b(?:mcp_gatekeeper|process)_[a-z_]+", text)):
        assert name in exposed, f"{name} is not exposed"
    emitted = audit_events_in_the_code()
    for alternatives in re.findall(r'event=~?"([a-z_|.*]+)"', text):
        for event in alternatives.split("|"):
            if "*" not in event:
                assert event in emitted, f"the service never emits the audit event {event}"


def audit_events_in_the_code() -> set[str]:
    """Every event name the service passes to audit() (most exist as series only once seen)."""
    source = " ".join(path.read_text() for path in (ROOT / "app").rglob("*.py"))
    return set(re.findall(r'audit\(\s*"([a-z_]+)"', source))
