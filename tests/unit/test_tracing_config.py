"""``tracing:``: where spans go, and what tracing costs when it is not configured (nothing)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from mcp_gatekeeper.asgi import GatekeeperApp
from mcp_gatekeeper.config import Config
from mcp_gatekeeper.forward_auth import Authenticator
from mcp_gatekeeper.main import create_app
from tests.support import config_dict, key_pool

NOT_CONFIGURED = """
import sys
from mcp_gatekeeper.config import Config
from mcp_gatekeeper.main import create_app
app = create_app(Config.model_validate({"proxy": {"hosts": [{"host": "a.example.test"}]}}))
sdk = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.proto")
sdk += ("mcp_gatekeeper.ops.otel",)
print(",".join(sorted(name for name in sys.modules if name.startswith(sdk))))
"""


def config(**tracing: Any) -> Config:
    raw = config_dict()
    raw["tracing"] = tracing
    return Config.model_validate(raw)


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("https://collector.example/", "https://collector.example/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
        ("https://vendor.example/otlp/v1/traces", "https://vendor.example/otlp/v1/traces"),
    ],
)
def test_a_base_url_gets_the_standard_traces_path(endpoint: str, url: str) -> None:
    tracing = config(endpoint=endpoint).tracing
    assert tracing.enabled and tracing.traces_url == url


@pytest.mark.parametrize(
    "tracing",
    [
        {"endpoint": "collector:4318"},
        {"endpoint": "grpc://collector:4317"},
        {"endpoint": "http://c:4318", "protocol": "grpc"},
        {"endpoint": "http://c:4318", "samplingRatio": 1.5},
        {"endpoint": "http://c:4318", "sampleRatio": 0.5},
    ],
)
def test_settings_that_cannot_work_are_refused(tracing: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        config(**tracing)


def test_collector_headers_are_masked_in_the_logged_configuration() -> None:
    from mcp_gatekeeper.config import redacted

    tracing = config(endpoint="http://c:4318", headers={"x-api-key": "s3cret-value"})
    assert "s3cret-value" not in str(redacted(tracing))


def test_not_configured_the_hot_path_is_the_untraced_one() -> None:
    """No tracer: the protocol calls the authenticator's own method and the middleware the
    endpoint itself, with nothing wrapped around them."""
    app = create_app(Config.model_validate(config_dict()), generate_key=key_pool())
    assert isinstance(app, GatekeeperApp) and app.immediate is not None
    answer = app.immediate.answer_at_once
    assert isinstance(getattr(answer, "__self__", None), Authenticator)
    hot_path = app.hot_path
    assert hot_path is not None and hot_path.serve is hot_path.app  # type: ignore[attr-defined]


def test_not_configured_no_part_of_the_sdk_is_imported() -> None:
    """A fresh interpreter builds the app without tracing: no module of the SDK, the exporter
    or the OTLP messages is loaded (FastAPI itself imports the API, which stays unused)."""
    result = subprocess.run(
        [sys.executable, "-c", NOT_CONFIGURED],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == ""
