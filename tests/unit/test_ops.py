"""Health, readiness, metrics, logs and audit events."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess

import pytest

from mcp_gatekeeper.main import create_app
from mcp_gatekeeper.ops.audit import RateLimitedAudit
from mcp_gatekeeper.ops.logging import JsonFormatter
from tests.support import FakeClock, key_pool, make_config, running


async def test_health_and_readiness_answer_on_any_host() -> None:
    """Probes hit pod IPs, not MCP hosts."""
    async with running(make_config()) as (_app, client):
        for path in ("/healthz", "/readyz", "/metrics"):
            response = await client.get(path, headers={"host": "10.1.2.3:8080"})
            assert response.status_code == 200, path


async def test_not_ready_until_a_signing_key_exists() -> None:
    """/readyz is 503 before the lifespan has made the keys."""
    import httpx

    app = create_app(make_config(), clock=FakeClock(), generate_key=key_pool())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        assert (await client.get("/readyz")).status_code == 503
        async with app.router.lifespan_context(app):
            assert (await client.get("/readyz")).status_code == 200


async def test_metrics_pass_promtool_lint() -> None:
    """The exposition is valid Prometheus text with route templates, never raw paths."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run scripts/install-test-deps.sh"
    async with running(make_config()) as (_app, client):
        await client.get("/authenticate/mcp/some/raw/path?x=1", headers={"host": "a.example.test"})
        await client.get("/no/such/route")
        text = (await client.get("/metrics")).text
    assert 'route="/authenticate/{path}"' in text and "/some/raw/path" not in text
    assert 'route="other"' in text
    assert "mcp_gatekeeper_key_rotations_total" in text
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


async def test_startup_logs_effective_config_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """The config is logged at start, with the client secret masked."""
    config = make_config()
    from mcp_gatekeeper.config import Config

    with_secret = Config.model_validate(
        {
            **config.model_dump(by_alias=True),
            "provider": {
                "name": "oidc",
                "issuerURL": "https://idp.example.test",
                "clientID": "id",
                "clientSecret": "hunter2-very-secret",
            },
        }
    )
    caplog.set_level(logging.INFO)
    async with running(with_secret):
        pass
    started = next(r for r in caplog.records if r.getMessage() == "starting mcp-gatekeeper")
    rendered = JsonFormatter().format(started)
    assert "hunter2" not in rendered and "**********" in rendered
    assert any("one worker and one replica" in r.getMessage() for r in caplog.records)
    assert any(getattr(r, "event", None) == "key_generated" for r in caplog.records)


def test_json_log_lines_carry_the_request_id() -> None:
    """Each line is one JSON object with the request id of the request being served."""
    from mcp_gatekeeper.ops.logging import request_id

    token = request_id.set("req-42")
    try:
        record = logging.makeLogRecord(
            {"msg": "hello", "levelname": "INFO", "name": "x", "kid": "k1"}
        )
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["request_id"] == "req-42" and line["message"] == "hello" and line["kid"] == "k1"


def test_deny_audit_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """A flood of denials becomes a trickle of log lines, with the suppressed count."""
    now = [0.0]
    suppressed: list[int] = []
    limiter = RateLimitedAudit(
        10, burst=5, clock=lambda: now[0], on_suppressed=lambda: suppressed.append(1)
    )
    caplog.set_level(logging.INFO, logger="mcp_gatekeeper.audit")
    for _ in range(1000):
        limiter("request_denied", host="a")
    assert len(caplog.records) == 5 and len(suppressed) == 995
    now[0] = 1.0
    limiter("request_denied", host="a")
    assert caplog.records[-1].__dict__["suppressed_since_last"] == 995
