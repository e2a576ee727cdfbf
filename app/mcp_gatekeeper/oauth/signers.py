"""The trusted signers of one kind (workload issuers, enterprise IdPs), each with its key set.

Each configured signer gets one ``KeySet``, made once and shared by every request, so its keys are
fetched once per ``KEYS_FRESH_FOR`` rather than once per JWT. The JWT's unverified ``iss`` only
picks whose keys and settings verify it; nothing else is believed before the signature is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import jwt

from ..config.grants import SignerConfig
from .assertions import MAX_ASSERTION_BYTES, AssertionRejected, KeySet, verify_assertion

#: Enough of an unknown ``iss`` to recognise it in an error, not enough to echo a payload.
SHOWN_ISSUER_CHARS = 100

Settings = TypeVar("Settings", bound=SignerConfig)


@dataclass(frozen=True)
class Signer(Generic[Settings]):
    """One trusted signer: its settings and its keys."""

    config: Settings
    keys: KeySet

    async def verify(
        self, assertion: str, *, audience: str, now: float, leeway: float
    ) -> dict[str, Any]:
        """The claims of ``assertion`` once every check of ``verify_assertion`` passed, with
        this signer's issuer, keys, algorithms and ``maxLifetime``."""
        return await verify_assertion(
            assertion,
            self.keys,
            issuer=self.config.issuer,
            audience=audience,
            algorithms=self.config.algorithms,
            now=now,
            leeway=leeway,
            max_lifetime=self.config.max_lifetime.total_seconds(),
        )


class TrustedSigners(Generic[Settings]):
    """The configured signers of one kind, by issuer."""

    def __init__(self, signers: Iterable[Settings], http: httpx.AsyncClient, *, kind: str) -> None:
        #: What a trusted signer is called in a refusal ("a trusted workload issuer").
        self._kind = kind
        self._signers = {
            config.issuer: Signer(config, _key_set(config, http)) for config in signers
        }

    def pick(self, assertion: str) -> Signer[Settings]:
        """The signer whose issuer the JWT claims (unverified), or ``AssertionRejected``."""
        claimed = unverified_issuer(assertion)
        signer = self._signers.get(claimed) if claimed is not None else None
        if signer is None:
            raise AssertionRejected(f"the issuer {shown_issuer(claimed)} is not {self._kind}")
        return signer

    def __getitem__(self, issuer: str) -> Settings:
        return self._signers[issuer].config


def _key_set(config: SignerConfig, http: httpx.AsyncClient) -> KeySet:
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


def shown_issuer(issuer: str | None) -> str:
    """An unverified ``iss`` as a refusal shows it: quoted, and cut at ``SHOWN_ISSUER_CHARS``."""
    if issuer is None:
        return "(none: the JWT has no iss)"
    if len(issuer) > SHOWN_ISSUER_CHARS:
        return repr(issuer[:SHOWN_ISSUER_CHARS]) + "..."
    return repr(issuer)
