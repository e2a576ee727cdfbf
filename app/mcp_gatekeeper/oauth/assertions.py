"""JWTs signed by someone else: client assertions (RFC 7523 §2.2), workload JWTs (RFC 7523 §2.1).

Every check an assertion must pass, in one place: an algorithm from the configured list (never
``none``, never HMAC, whatever the header says: RFC 8725 §3.1), no header parameter that points
at other keys (``jku``, ``jwk``, ``x5u``, ``x5c``, ``crit``), a key from the trusted key set only,
``iss``, ``aud``, ``exp``, ``iat`` within a bounded lifetime, and a ``jti`` used once across every
replica (the store's atomic ``add``).

Key sets come inline, from a ``jwks_uri``, or from the issuer's OpenID discovery document (whose
``issuer`` must be the configured one and whose ``jwks_uri`` must be https, OIDC Discovery §4.3).
A fetched set is kept ``KEYS_FRESH_FOR``; it is fetched again at most every ``REFETCH_AFTER``,
whether the last fetch worked or failed, when it is stale or a token names a key it does not hold
(the issuer rotated). While fetching fails, the last good keys keep verifying for up to
``KEYS_USABLE_FOR`` after they were fetched: a signer's outage does not stop every workload at
once. A fetch reads at most ``MAX_KEYS_BYTES`` within ``FETCH_TIMEOUT``; why it failed is logged,
and the client is only told that the signer's keys are unavailable (it learns no address).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from ..store import Store
from .key_fetch import KeysUnavailable, fetch_jwks

log = logging.getLogger(__name__)

KEYS_FRESH_FOR = 300.0
REFETCH_AFTER = 30.0
#: How long fetched keys still verify while every refresh fails (12 x ``KEYS_FRESH_FOR``): a
#: signer down for an hour stops nobody; a key the signer withdrew meanwhile lives that long.
KEYS_USABLE_FOR = 3600.0
MAX_ASSERTION_BYTES = 16_384
FORBIDDEN_HEADER_PARAMS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
USED_JTIS = "assertion-jtis"
UNAVAILABLE = "the signer's keys are unavailable; try again later"
#: What each key type may sign with (the curve decides for EC keys).
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384"}

Jwk = dict[str, Any]


class AssertionRejected(Exception):
    """The JWT is not acceptable; the message says why (safe to show the client)."""


@dataclass
class KeySet:
    """One signer's public keys (JWKs by ``kid``): inline, by URL, or by the issuer's discovery
    document."""

    http: httpx.AsyncClient
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    discovery_issuer: str | None = None
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str | None, Jwk] = field(default_factory=dict)
    #: When the keys held were fetched; when a fetch was last tried (worked or not).
    _fetched_at: float | None = None
    _tried_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, kid: str | None) -> Jwk:
        if self.jwks is not None:
            if not self._keys:
                self._keys = _parse(self.jwks)
            return _pick(self._keys, kid)
        if self._wants_fetch(kid):
            async with self._lock:
                # Whoever waited here while another request fetched uses what it got.
                if self._wants_fetch(kid):
                    await self._refresh()
        fetched_at = self._fetched_at
        if fetched_at is None or self.clock() - fetched_at > KEYS_USABLE_FOR:
            raise AssertionRejected(UNAVAILABLE)
        return _pick(self._keys, kid)

    def _wants_fetch(self, kid: str | None) -> bool:
        now = self.clock()
        if self._tried_at is not None and now - self._tried_at <= REFETCH_AFTER:
            return False  # one fetch per REFETCH_AFTER, whatever came of the last
        stale = self._fetched_at is None or now - self._fetched_at > KEYS_FRESH_FOR
        unknown = kid not in self._keys and (kid is not None or not self._keys)
        return stale or unknown

    async def _refresh(self) -> None:
        self._tried_at = self.clock()
        where = self.jwks_uri or self.discovery_issuer
        try:
            keys = _parse(
                await fetch_jwks(
                    self.http, jwks_uri=self.jwks_uri, discovery_issuer=self.discovery_issuer
                )
            )
        except (KeysUnavailable, AssertionRejected) as exc:
            held = "keeping the last good keys" if self._keys else "no keys held"
            log.warning("the signing keys of %s cannot be refreshed (%s): %s", where, held, exc)
            return
        self._keys, self._fetched_at = keys, self._tried_at


def _parse(document: dict[str, Any]) -> dict[str | None, Jwk]:
    keys: dict[str | None, Jwk] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise AssertionRejected("the signer's JWKS has no keys")
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            continue  # a key type or curve we do not use cannot sign what we accept
        keys[entry.get("kid")] = entry
    return keys


def _pick(keys: dict[str | None, Jwk], kid: str | None) -> Jwk:
    if kid is not None and kid in keys:
        return keys[kid]
    if kid is None and len(keys) == 1:
        return next(iter(keys.values()))
    raise AssertionRejected("the JWT is signed with a key the signer does not publish")


def key_for(entry: Jwk, alg: str, kid: str | None) -> jwt.PyJWK:
    """The JWK as a key for ``alg``: only an algorithm of its type and curve, and only its own
    ``alg`` when it names one (RFC 7517 §4.4). A JWK without ``alg`` serves every algorithm of
    its type (an RSA key signs RS384 and PS256 alike)."""
    named = entry.get("alg")
    fits = (
        alg in _RSA_ALGORITHMS
        if entry.get("kty") == "RSA"
        else entry.get("kty") == "EC" and _EC_ALGORITHMS.get(entry.get("crv", "")) == alg
    )
    if not fits or (named is not None and named != alg):
        raise AssertionRejected(f"the key {kid!r} does not sign with {alg}")
    try:
        return jwt.PyJWK(entry, algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError):
        raise AssertionRejected(f"the key {kid!r} does not sign with {alg}") from None


async def verify_assertion(
    token: str,
    keys: KeySet,
    *,
    issuer: str | None,
    audience: str | Iterable[str],
    algorithms: Iterable[str],
    now: float,
    leeway: float,
    max_lifetime: float,
) -> dict[str, Any]:
    """The claims of ``token`` once every check passed; ``AssertionRejected`` otherwise.

    ``issuer`` None: any ``iss`` (a client assertion's ``iss`` is checked by its caller)."""
    if len(token) > MAX_ASSERTION_BYTES:
        raise AssertionRejected("the JWT is too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AssertionRejected("the assertion is not a JWT") from None
    allowed = list(algorithms)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise AssertionRejected(f"alg {alg!r} is not accepted (accepted: {', '.join(allowed)})")
    if FORBIDDEN_HEADER_PARAMS & header.keys():
        raise AssertionRejected("the JWT header points at other keys (jku, jwk, x5u, x5c, crit)")
    kid = header.get("kid")
    kid = kid if isinstance(kid, str) else None
    key = key_for(await keys.key(kid), alg, kid)
    audiences = [audience] if isinstance(audience, str) else list(audience)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=audiences,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_iat": True},
        )
    except jwt.PyJWTError as exc:
        raise AssertionRejected(f"the JWT is not valid: {exc}") from None
    # pyjwt compares with its own clock: check again with ours, so tests and servers agree.
    exp, iat = claims["exp"], claims["iat"]
    if not all(isinstance(value, int | float) for value in (exp, iat)):
        raise AssertionRejected("exp and iat must be numbers")
    if exp <= now - leeway or iat > now + leeway:
        raise AssertionRejected("the JWT is expired or not yet valid")
    if exp - iat > max_lifetime:
        raise AssertionRejected(f"the JWT lives longer than {int(max_lifetime)} s (exp - iat)")
    return claims


class UsedAssertions:
    """Each ``(iss, jti)`` accepted once, across every process sharing the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def use_once(self, claims: dict[str, Any], now: float, leeway: float) -> None:
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise AssertionRejected("the JWT has no jti (each assertion is used once)")
        name = hashlib.sha256(f"{claims['iss']}\n{jti}".encode()).hexdigest()
        ttl = max(float(claims["exp"]) + leeway - now, 1.0)
        if not await self._store.add(USED_JTIS, name, b"1", ttl):
            raise AssertionRejected("this JWT was already used (jti replayed)")
