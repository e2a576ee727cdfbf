"""``tracing:``: OpenTelemetry traces exported by OTLP/HTTP, off until an endpoint is named.

Off, nothing of OpenTelemetry is imported and no request pays for it (``ops/tracing.py``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from .common import Duration, StrictModel

#: Where OTLP/HTTP receivers take traces (OTLP specification, "OTLP/HTTP Request").
TRACES_PATH = "/v1/traces"


class TracingConfig(StrictModel):
    endpoint: str | None = Field(
        None,
        description="The OTLP/HTTP receiver: its base URL (e.g. http://collector:4318, "
        "/v1/traces is appended) or the full traces URL; unset: no tracing",
    )
    protocol: Literal["http/protobuf"] = Field(
        "http/protobuf", description="OTLP over HTTP with protobuf bodies (the one supported)"
    )
    service_name: str = Field("mcp-gatekeeper", min_length=1, max_length=200, alias="serviceName")
    sampling_ratio: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        alias="samplingRatio",
        description="Share of new traces recorded; a gateway's traceparent decides for its own",
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Sent with every export (a collector's API key)"
    )
    timeout: Duration = Field(timedelta(seconds=10), description="One export, at most")

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. http://collector:4318")
        return value

    @property
    def enabled(self) -> bool:
        return self.endpoint is not None

    @property
    def traces_url(self) -> str:
        """The URL spans are posted to: a bare base URL gets the standard path."""
        assert self.endpoint is not None
        base = self.endpoint.rstrip("/")
        return base if urlsplit(base).path else base + TRACES_PATH
