"""Workload identity: which trusted issuer signed a job's JWT, and which rule it falls under.

The issuers of ``grants.jwtBearer.issuers[]`` are ``TrustedSigners``: each keeps one key set,
shared by every exchange, and the JWT's unverified ``iss`` only picks which issuer's keys and
settings verify it.

Rules match claims. A claim name is dotted for nested claims; since some claim names contain dots
themselves (Kubernetes' ``kubernetes.io``), each step takes the longest run of dotted parts that
is a key of the object at hand: ``kubernetes.io.namespace`` is ``claims["kubernetes.io"]
["namespace"]``. A claim's value is compared as a string (numbers and booleans as JSON writes
them: ``true``, ``42``), a list matches when any element does, an object never matches, and the
patterns match the whole value. Rules are tried in order; the first whose every claim matches
decides, even if the request then asks for more than it grants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..config.grants import ClaimRule, JwtBearerConfig
from .assertions import AssertionRejected
from .signers import TrustedSigners


@dataclass(frozen=True)
class Workload:
    """A verified workload JWT and the rule it falls under."""

    issuer: str
    claims: dict[str, Any]
    rule_index: int
    rule: ClaimRule


class WorkloadIssuers:
    """The configured issuers of workload JWTs, each with its key set."""

    def __init__(self, config: JwtBearerConfig, http: httpx.AsyncClient) -> None:
        self._signers = TrustedSigners(config.issuers, http, kind="a trusted workload issuer")

    async def verify(self, assertion: str, *, now: float, leeway: float) -> Workload:
        """The workload ``assertion`` proves, or ``AssertionRejected`` saying why not.

        Single use is left to the caller, so a request refused for what it asks does not burn
        the workload's JWT."""
        signer = self._signers.pick(assertion)
        config = signer.config
        claims = await signer.verify(assertion, audience=config.audience, now=now, leeway=leeway)
        for index, rule in enumerate(config.rules):
            if all(matches(claim_value(claims, name), rule.claims[name]) for name in rule.claims):
                return Workload(config.issuer, claims, index, rule)
        raise AssertionRejected(f"no rule grants this workload of {config.issuer} anything")

    def single_use(self, issuer: str) -> bool:
        return self._signers[issuer].single_use

    def subject_prefix(self, issuer: str) -> str:
        """What the token's subject starts with, before the JWT's ``sub``."""
        return self._signers[issuer].subject_prefix


_MISSING = object()


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """The claim ``name`` names (dotted for nested claims, longest existing key first), or a
    sentinel that matches nothing."""
    parts = name.split(".")
    node: Any = claims
    while parts:
        if not isinstance(node, Mapping):
            return _MISSING
        for length in range(len(parts), 0, -1):
            key = ".".join(parts[:length])
            if key in node:
                node, parts = node[key], parts[length:]
                break
        else:
            return _MISSING
    return node


def matches(value: Any, patterns: list[str]) -> bool:
    """Whether the claim value (or, for a list, any element) full-matches one pattern."""
    values = value if isinstance(value, list) else [value]
    texts = [text for text in map(_as_text, values) if text is not None]
    return any(re.fullmatch(pattern, text) for pattern in patterns for text in texts)


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if value is _MISSING or isinstance(value, dict | list):
        return None
    return json.dumps(value)
