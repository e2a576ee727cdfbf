"""``proxy.hosts[].rateLimits``: how many requests and tool calls a user (and a client) may send
to one MCP host, as token buckets shared by every replica (``forward_auth/rate_limits.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .common import Duration, StrictModel

#: Per-tool limits one host may name: each adds a bucket per active user.
MAX_TOOL_LIMITS = 50
MAX_TOOL_NAME = 128


class RateLimit(StrictModel):
    """``limit`` per ``window``, refilled continuously, at most ``burst`` at once."""

    limit: int = Field(ge=1, le=10_000_000, description="How many per window")
    window: Duration = Field(timedelta(minutes=1), description="e.g. 1s, 1m, 1h")
    burst: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="How many at once, after a quiet spell (default: limit)",
    )

    @field_validator("window")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(days=1):
            raise ValueError("must be between 1s and 1d")
        return value

    @property
    def rate(self) -> float:
        """Refill per second."""
        return self.limit / self.window.total_seconds()

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.limit


class LimitSet(StrictModel):
    """The limits of one kind of caller (each user, or each client) at one host."""

    requests: RateLimit | None = Field(None, description="Every authorized request")
    tool_calls: RateLimit | None = Field(
        None, alias="toolCalls", description="Tool calls (a batch counts each call)"
    )
    tools: dict[str, RateLimit] = Field(
        default_factory=dict, description="Calls of one named tool (e.g. delete_file)"
    )

    @field_validator("tools")
    @classmethod
    def _tools(cls, value: dict[str, RateLimit]) -> dict[str, RateLimit]:
        if len(value) > MAX_TOOL_LIMITS:
            raise ValueError(f"at most {MAX_TOOL_LIMITS} tools")
        for name in value:
            if not 0 < len(name) <= MAX_TOOL_NAME:
                raise ValueError(f"a tool name has 1 to {MAX_TOOL_NAME} characters")
        return value

    @property
    def empty(self) -> bool:
        return self.requests is None and self.tool_calls is None and not self.tools


#: ``auto``: 429 with Retry-After behind Envoy, Traefik and Caddy (``trustedHostHeaders`` host or
#: x-forwarded), 403 behind nginx and ingress-nginx (query, x-original-url), which turn any other
#: status into a 500 (``research/gateway-contracts.md`` §0 rule 3).
RefusalStatus = Literal["auto", "429", "403"]


class RateLimitsConfig(StrictModel):
    per_user: LimitSet | None = Field(
        None, alias="perUser", description="Per signed-in user (the token's subject)"
    )
    per_client: LimitSet | None = Field(
        None, alias="perClient", description="Per OAuth client, all its users together"
    )
    refusal: RefusalStatus = Field(
        "auto",
        description="Status of a refused request: 429 (with Retry-After), 403, or auto (from "
        "proxy.trustedHostHeaders: 403 behind nginx, which turns a 429 into a 500)",
    )

    @model_validator(mode="after")
    def _something(self) -> RateLimitsConfig:
        if all(limits is None or limits.empty for limits in (self.per_user, self.per_client)):
            raise ValueError("set perUser or perClient with at least one limit")
        return self
