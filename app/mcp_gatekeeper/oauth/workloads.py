"""Workload identity: which trusted issuer signed a job's JWT, and which rule it falls under.

Each ``grants.jwtBearer.issuers[]`` gets one ``KeySet``, made once and shared by every request,
so its keys are fetched once per ``KEYS_FRESH_FOR`` rather than once per exchange. The JWT's
unverified ``iss`` only picks which issuer's keys and settings verify it; nothing else is
believed before the signature is.

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
import jwt

from ..config.grants import ClaimRule, JwtBearerConfig, WorkloadIssuerConfig
from .assertions import MAX_ASSERTION_BYTES, AssertionRejected, KeySet, verify_assertion

#: Enough of an unknown ``iss`` to recognise it in an error, not enough to echo a payload.
SHOWN_ISSUER_CHARS = 100


@dataclass(frozen=True)
class Workload:
    """A verified workload JWT and the rule it falls under."""

    issuer: str
    claims: dict[str, Any]
    rule_index: int
    rule: ClaimRule


@dataclass(frozen=True)
class _Issuer:
    config: WorkloadIssuerConfig
    keys: KeySet


class WorkloadIssuers:
    """The configured issuers of workload JWTs, each with its key set."""

    def __init__(self, config: JwtBearerConfig, http: httpx.AsyncClient) -> None:
        self._issuers = {
            issuer.issuer: _Issuer(issuer, _key_set(issuer, http)) for issuer in config.issuers
        }

    async def verify(self, assertion: str, *, now: float, leeway: float) -> Workload:
        """The workload ``assertion`` proves, or ``AssertionRejected`` saying why not.

        Single use is left to the caller, so a request refused for what it asks does not burn
        the workload's JWT."""
        claimed = unverified_issuer(assertion)
        issuer = self._issuers.get(claimed) if claimed is not None else None
        if issuer is None:
            raise AssertionRejected(
                f"the issuer {_shown(claimed)} is not a trusted workload issuer"
            )
        config = issuer.config
        claims = await verify_assertion(
            assertion,
            issuer.keys,
            issuer=config.issuer,
            audience=config.audience,
            algorithms=config.algorithms,
            now=now,
            leeway=leeway,
            max_lifetime=config.max_lifetime.total_seconds(),
        )
        for index, rule in enumerate(config.rules):
            if all(matches(claim_value(claims, name), rule.claims[name]) for name in rule.claims):
                return Workload(config.issuer, claims, index, rule)
        raise AssertionRejected(f"no rule grants this workload of {config.issuer} anything")

    def single_use(self, issuer: str) -> bool:
        return self._issuers[issuer].config.single_use

    def subject_prefix(self, issuer: str) -> str:
        """What the token's subject starts with, before the JWT's ``sub``."""
        return self._issuers[issuer].config.subject_prefix


def _key_set(config: WorkloadIssuerConfig, http: httpx.AsyncClient) -> KeySet:
    if config.jwks is not None:
        return KeySet(http, jwks=config.jwks)
    if config.jwks_uri is not None:
        return KeySet(http, jwks_uri=config.jwks_uri)
    return KeySet(http, discovery_issuer=config.issuer)


def unverified_issuer(assertion: str) -> str | None:
    """The ``iss`` the JWT claims, before anything is verified (only to pick the issuer)."""
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise AssertionRejected("the JWT is too large")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AssertionRejected("the assertion is not a JWT") from None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


def _shown(issuer: str | None) -> str:
    if issuer is None:
        return "(none: the JWT has no iss)"
    if len(issuer) > SHOWN_ISSUER_CHARS:
        return repr(issuer[:SHOWN_ISSUER_CHARS]) + "..."
    return repr(issuer)


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
