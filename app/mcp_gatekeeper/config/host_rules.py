"""``proxy.hosts[].rules`` and ``provider.copyClaims``: who may make which calls, on what claims.

Each rule is checked when the configuration loads (it compiles and type-checks, or the error is
reported at its field path, e.g. ``proxy.hosts.0.rules.1.deny``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..rules.cel import RuleCompileError, compile_rule
from .common import StrictModel

#: What a 403's description may hold: clients show it to the user.
MAX_MESSAGE_LENGTH = 300
#: Claims of our own tokens, which a copied claim must never stand in for.
RESERVED_CLAIMS = frozenset(
    {"iss", "aud", "sub", "exp", "nbf", "iat", "jti", "email", "groups", "scope", "scopes"}
    | {"client_id", "cnf", "act", "gty", "azp", "auth_time", "nonce", "may_act"}
)
#: Claims one provider may copy; each is bounded in size where it is copied.
MAX_COPIED_CLAIMS = 16


def _compiled(value: str | None) -> str | None:
    if value is not None:
        try:
            compile_rule(value)
        except RuleCompileError as exc:
            raise ValueError(f"CEL: {exc}") from None
    return value


class RuleConfig(StrictModel):
    """``{allow: <CEL>}`` or ``{deny: <CEL>}``, with the message a refused client shows."""

    allow: str | None = Field(None, description="CEL: calls this rule allows")
    deny: str | None = Field(None, description="CEL: calls this rule refuses")
    message: str = Field(
        min_length=1,
        max_length=MAX_MESSAGE_LENGTH,
        description="The 403's description when this rule refuses (for the first allow rule: "
        "when no allow rule holds)",
    )

    _expressions = field_validator("allow", "deny")(_compiled)

    @model_validator(mode="after")
    def _one_effect(self) -> RuleConfig:
        if (self.allow is None) == (self.deny is None):
            raise ValueError("a rule has exactly one of allow and deny")
        return self

    @property
    def as_tuple(self) -> tuple[Literal["allow", "deny"], str, str]:
        if self.deny is not None:
            return ("deny", self.deny, self.message)
        return ("allow", self.allow or "", self.message)


def copied_claim_names(value: list[str]) -> list[str]:
    """``provider.copyClaims``: distinct names, none of them a claim this service writes."""
    if len(value) > MAX_COPIED_CLAIMS:
        raise ValueError(f"at most {MAX_COPIED_CLAIMS} claims")
    if len(set(value)) != len(value):
        raise ValueError("claim names must be unique")
    reserved = sorted(RESERVED_CLAIMS.intersection(value))
    if reserved:
        raise ValueError(f"{', '.join(reserved)}: written by mcp-gatekeeper itself, never copied")
    if any(not name or len(name) > 256 for name in value):
        raise ValueError("a claim name is 1 to 256 characters")
    return value
