"""The chart's PrometheusRule: valid rules that fire on trouble and stay quiet otherwise, checked
by promtool's own rule engine, on series named as the service really exposes them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from mcp_gatekeeper.ops.metrics import WATCHED_EVENTS
from tests.deploy.tools import CHART, NAMESPACE, only, render
from tests.support import make_config, running

ALERTS = (
    "McpGatekeeperStoreUnavailable",
    "McpGatekeeperServerErrors",
    "McpGatekeeperSlowAuthenticate",
    "McpGatekeeperTokenReplay",
    "McpGatekeeperIdentityProviderFailing",
)
DURATION = "mcp_gatekeeper_http_request_duration_seconds"
EVENTS = "mcp_gatekeeper_audit_events_total"
STORE_UP = "mcp_gatekeeper_store_up"


def rule_groups(*sets: str) -> list[dict[str, Any]]:
    docs = render([CHART / "ci" / "one-host-values.yaml"], ["prometheusRule.enabled=true", *sets])
    groups: list[dict[str, Any]] = only(docs, "PrometheusRule")["spec"]["groups"]
    return groups


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: run scripts/install-test-deps.sh"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def alert(**labels: str) -> dict[str, str]:
    """An expected alert's labels (its annotations are filled in from the rule)."""
    return {"namespace": NAMESPACE, "severity": "warning", **labels}


def expected(rules: dict[str, dict[str, Any]], name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The alert promtool must see: its labels, and the rule's annotations with them filled in."""
    annotations = {
        key: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda match: labels[match[1]], text)
        for key, text in rules[name]["annotations"].items()
    }
    return {"exp_labels": labels, "exp_annotations": annotations}


def series(metric: str, values: str, namespace: str = NAMESPACE, **labels: str) -> dict[str, str]:
    rendered = ",".join(
        f'{key}="{value}"' for key, value in {"namespace": namespace, **labels}.items()
    )
    return {"series": f"{metric}{{{rendered}}}", "values": values}


def bucket(le: str, values: str) -> dict[str, str]:
    return series(f"{DURATION}_bucket", values, route="/authenticate", le=le)


Check = tuple[str, str, list[dict[str, str]]]
#: name: (input series, [(evaluation time, alert, the alerts expected then)]).
CASES: dict[str, tuple[list[dict[str, str]], list[Check]]] = {
    "store down two minutes": (
        [series(STORE_UP, "1 1 0x10", pod="p1"), series(STORE_UP, "1x12", pod="p2")],
        [
            ("3m", "McpGatekeeperStoreUnavailable", []),
            ("5m", "McpGatekeeperStoreUnavailable", [alert(pod="p1", severity="critical")]),
        ],
    ),
    "a first replay after a restart": (
        [series(EVENTS, "0 0 0 1x5", pod="p1", event="replay_detected")],
        [("2m", "McpGatekeeperTokenReplay", []), ("4m", "McpGatekeeperTokenReplay", [alert()])],
    ),
    "one request in ten fails": (
        [
            series(f"{DURATION}_count", "0+90x20", status="200"),
            series(f"{DURATION}_count", "0+10x20", status="503"),
        ],
        [("8m", "McpGatekeeperServerErrors", []), ("16m", "McpGatekeeperServerErrors", [alert()])],
    ),
    "/authenticate at 100 ms": (
        [bucket("0.01", "0x20"), bucket("0.1", "0+100x20"), bucket("+Inf", "0+100x20")],
        [
            ("8m", "McpGatekeeperSlowAuthenticate", []),
            ("16m", "McpGatekeeperSlowAuthenticate", [alert()]),
        ],
    ),
    "the identity provider fails re-checks": (
        [series(EVENTS, "0+1x30", pod="p1", event="recheck_failed")],
        [
            ("5m", "McpGatekeeperIdentityProviderFailing", []),
            ("20m", "McpGatekeeperIdentityProviderFailing", [alert()]),
        ],
    ),
    "healthy, with a few failed logins": (
        [
            series(STORE_UP, "1x30", pod="p1"),
            series(f"{DURATION}_count", "0+100x30", status="200"),
            series(f"{DURATION}_count", "0x30", status="503"),
            bucket("0.01", "0+100x30"),
            bucket("+Inf", "0+100x30"),
            *(series(EVENTS, "0x30", pod="p1", event=event) for event in WATCHED_EVENTS),
            series(EVENTS, "0 1 2 3 4 4x25", pod="p2", event="login_failed"),
        ],
        [("25m", name, []) for name in ALERTS],
    ),
    "another namespace": (
        [series(STORE_UP, "0x10", namespace="other", pod="p1")],
        [("8m", "McpGatekeeperStoreUnavailable", [])],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_alerts_fire_on_trouble_and_only_then(case: str, tmp_path: Path) -> None:
    series, checks = CASES[case]
    groups = rule_groups()
    by_name = {rule["alert"]: rule for rule in groups[0]["rules"]}
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": at,
                        "alertname": name,
                        "exp_alerts": [expected(by_name, name, labels) for labels in alerts],
                    }
                    for at, name, alerts in checks
                ],
            }
        ],
    }
    unit = tmp_path / "tests.yaml"
    unit.write_text(yaml.safe_dump(tests))
    result = promtool("test", "rules", str(unit))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_are_valid_and_settings_reach_them(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    groups = rule_groups(
        "prometheusRule.slowAuthenticateSeconds=0.2", "prometheusRule.additionalRuleLabels.team=sre"
    )
    rules.write_text(yaml.safe_dump({"groups": groups}))
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    (group,) = groups
    assert [rule["alert"] for rule in group["rules"]] == list(ALERTS)
    assert all(rule["labels"]["team"] == "sre" for rule in group["rules"])
    slow = next(rule for rule in group["rules"] if rule["alert"] == "McpGatekeeperSlowAuthenticate")
    many = only(render([CHART / "ci" / "many-hosts-values.yaml"]), "PrometheusRule")["metadata"]
    assert many["namespace"] == NAMESPACE and many["labels"]["release"] == "kube-prometheus-stack"
    assert slow["expr"].rstrip().endswith("> 0.2")


async def fresh_service_samples() -> list[Sample]:
    """What a just-started service exposes on /metrics after one /authenticate call."""
    async with running(make_config()) as (_app, client):
        await client.get("/authenticate", headers={"host": "a.example.test"})
        exposition = (await client.get("/metrics")).text
    return [
        sample for family in text_string_to_metric_families(exposition) for sample in family.samples
    ]


async def test_rules_watch_series_the_service_exposes() -> None:
    """Every metric and audit event the alerts name is on a fresh service's /metrics (a rename
    in the code would otherwise silence an alert without anyone noticing)."""
    samples = await fresh_service_samples()
    exposed = {sample.name for sample in samples}
    events = {sample.labels["event"] for sample in samples if sample.name == EVENTS}
    expressions = " ".join(rule["expr"] for rule in rule_groups()[0]["rules"])
    for name in set(re.findall(r"mcp_gatekeeper_[a-z_]+", expressions)):
        assert name in exposed, f"{name} is not exposed"
    assert set(re.findall(r'event="([a-z_]+)"', expressions)) <= events
    routes = {sample.labels.get("route") for sample in samples if sample.name.startswith(DURATION)}
    assert "/authenticate" in routes, "the slow-/authenticate alert matches route=~/authenticate.*"
