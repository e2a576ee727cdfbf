"""JWTs signed by someone else: client assertions (RFC 7523 §2.2), workload JWTs (RFC 7523 §2.1).

Every check an assertion must pass, in one place: an algorithm from the configured list (never
``none``, never HMAC, whatever the header says: RFC 8725 §3.1), no header parameter that points
at other keys (``jku``, ``jwk``, ``x5u``, ``x5c``, ``crit``), a key from the trusted key set only,
``iss``, ``aud``, ``exp``, ``iat`` within a bounded lifetime, and a ``jti`` used once across every
replica (the store's atomic ``add``).

Key sets come inline, from a ``jwks_uri``, or from the issuer's OpenID discovery document; a
fetched set is kept ``KEYS_FRESH_FOR`` and fetched again at most every ``REFETCH_AFTER`` when a
token names a key it does not hold (the issuer rotated).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from ..providers import ProviderError
from ..providers.upstream_http import expect_ok, json_object, send
from ..store import Store

KEYS_FRESH_FOR = 300.0
REFETCH_AFTER = 30.0
MAX_ASSERTION_BYTES = 16_384
FORBIDDEN_HEADER_PARAMS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
USED_JTIS = "assertion-jtis"


class AssertionRejected(Exception):
    """The JWT is not acceptable; the message says why (safe to show the client)."""


@dataclass
class KeySet:
    """One signer's public keys: inline, by URL, or by the issuer's discovery document."""

    http: httpx.AsyncClient
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    discovery_issuer: str | None = None
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str | None, jwt.PyJWK] = field(default_factory=dict)
    _fetched_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, kid: str | None) -> jwt.PyJWK:
        if self.jwks is not None:
            if not self._keys:
                self._keys = _parse(self.jwks)
            return _pick(self._keys, kid)
        async with self._lock:
            now = self.clock()
            stale = self._fetched_at is None or now - self._fetched_at > KEYS_FRESH_FOR
            unknown = kid not in self._keys and (kid is not None or not self._keys)
            may_refetch = self._fetched_at is None or now - self._fetched_at > REFETCH_AFTER
            if stale or (unknown and may_refetch):
                self._keys = _parse(await self._fetch())
                self._fetched_at = now
        return _pick(self._keys, kid)

    async def _fetch(self) -> dict[str, Any]:
        try:
            uri = self.jwks_uri
            if uri is None:
                assert self.discovery_issuer is not None
                discovery = self.discovery_issuer.rstrip("/") + "/.well-known/openid-configuration"
                answer = await send(self.http, "GET", discovery)
                document = json_object(expect_ok(answer, "discovery"))
                uri = document.get("jwks_uri")
                if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
                    raise AssertionRejected("the issuer's discovery document names no jwks_uri")
            return json_object(expect_ok(await send(self.http, "GET", uri), "JWKS"))
        except ProviderError as exc:
            raise AssertionRejected(f"the signer's keys cannot be fetched: {exc}") from None


def _parse(document: dict[str, Any]) -> dict[str | None, jwt.PyJWK]:
    keys: dict[str | None, jwt.PyJWK] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise AssertionRejected("the signer's JWKS has no keys")
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            continue  # a key type or curve we do not use cannot sign what we accept
        keys[entry.get("kid")] = key
    return keys


def _pick(keys: dict[str | None, jwt.PyJWK], kid: str | None) -> jwt.PyJWK:
    if kid is not None and kid in keys:
        return keys[kid]
    if kid is None and len(keys) == 1:
        return next(iter(keys.values()))
    raise AssertionRejected("the JWT is signed with a key the signer does not publish")


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
    if alg not in allowed:
        raise AssertionRejected(f"alg {alg!r} is not accepted (accepted: {', '.join(allowed)})")
    if FORBIDDEN_HEADER_PARAMS & header.keys():
        raise AssertionRejected("the JWT header points at other keys (jku, jwk, x5u, x5c, crit)")
    kid = header.get("kid")
    key = await keys.key(kid if isinstance(kid, str) else None)
    if key.algorithm_name != alg and not _same_family(key, alg):
        raise AssertionRejected(f"the key {kid!r} does not sign with {alg}")
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


def _same_family(key: jwt.PyJWK, alg: str) -> bool:
    # A JWK without "alg" gets pyjwt's default for its type (RS256 for RSA, ES256 for P-256);
    # the same RSA key may sign RS384/PS256 etc. Type and curve must still match.
    kty = key.key_type
    return (kty == "RSA" and alg[:2] in {"RS", "PS"}) or (
        kty == "EC" and alg == {"P-256": "ES256", "P-384": "ES384"}.get(_curve(key), "")
    )


def _curve(key: jwt.PyJWK) -> str:
    curve = getattr(key.key, "curve", None)
    return {"secp256r1": "P-256", "secp384r1": "P-384"}.get(getattr(curve, "name", ""), "")


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
