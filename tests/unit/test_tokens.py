"""Minting and verifying access tokens: every way a token can be wrong is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from mcp_gatekeeper.keys import KeyManager
from mcp_gatekeeper.store import MemoryStore
from mcp_gatekeeper.tokens import (
    AccessClaims,
    Identity,
    InvalidToken,
    RevocationList,
    TokenVerifier,
    mint_access_token,
)
from tests.support import FakeClock, host, key_pool, make_config

CONFIG = make_config()
A = host(CONFIG, "a.example.test")
B = host(CONFIG, "b.example.test")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class World:
    def __init__(self, keys: KeyManager, clock: FakeClock, cache_size: int = 100) -> None:
        self.keys = keys
        self.clock = clock
        self.verifier: TokenVerifier[AccessClaims] = TokenVerifier(
            keys,
            lambda claims: claims,
            clock_skew=timedelta(seconds=30),
            cache_size=cache_size,
            revocations=RevocationList(clock),
            clock=clock,
        )

    def mint(self, target: Any = A, **overrides: Any) -> str:
        return mint_access_token(
            self.keys.ring,
            target,
            Identity("alice", "alice@example.test", ("eng",)),
            scopes=["read", "write"],
            client_id="client-1",
            now=self.clock(),
            lifetime=timedelta(hours=1),
            **overrides,
        ).token

    def claims(self, target: Any = A) -> dict[str, Any]:
        return jwt.decode(self.mint(target), options={"verify_signature": False})

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        key = self.keys.ring.current
        headers = {"kid": key.kid, "typ": "at+jwt", **header}
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers=headers)


@pytest.fixture
async def world() -> World:
    clock = FakeClock()
    keys = KeyManager(
        MemoryStore(clock=clock),
        rotation_interval=timedelta(hours=1),
        token_lifetime=timedelta(hours=1, seconds=30),
        clock=clock,
        generate=key_pool(),
    )
    await keys.start()
    return World(keys, clock)


async def test_valid_token_yields_its_claims(world: World) -> None:
    """A fresh token for host A verifies for host A with every claim the gateway needs."""
    claims = world.verifier.verify(world.mint(), A).claims
    assert claims.identity == Identity("alice", "alice@example.test", ("eng",))
    assert claims.scopes == ("read", "write")
    assert claims.audience == "https://a.example.test/mcp"
    assert claims.issuer == "https://a.example.test"
    assert claims.client_id == "client-1"


async def test_minted_claims_follow_rfc9068(world: World) -> None:
    """aud is a string (the resource), scope a space list, plus the Go service's scopes array."""
    claims = world.claims()
    assert claims["aud"] == A.resource
    assert claims["scope"] == "read write" and claims["scopes"] == ["read", "write"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert set(claims) >= {"iss", "sub", "email", "groups", "client_id", "jti"}
    assert jwt.get_unverified_header(world.mint())["typ"] == "at+jwt"


def _hs256_with_public_key(world: World) -> str:
    """The classic algorithm-confusion attack: HMAC keyed with our public key PEM."""
    pem = world.keys.ring.current.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(
        json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": world.keys.ring.current.kid}).encode()
    )
    payload = b64(json.dumps(world.claims()).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def _alg_none(world: World) -> str:
    header = b64(
        json.dumps({"alg": "none", "typ": "at+jwt", "kid": world.keys.ring.current.kid}).encode()
    )
    return f"{header}.{b64(json.dumps(world.claims()).encode())}."


def _unknown_kid(world: World) -> str:
    stranger = key_pool()(0)
    while stranger.kid in world.keys.ring.verification_keys:
        stranger = key_pool()(0)
    return jwt.encode(
        world.claims(),
        stranger.private_key,
        algorithm="RS256",
        headers={"kid": stranger.kid, "typ": "at+jwt"},
    )


def _tampered(world: World) -> str:
    header, payload, signature = world.mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "mallory"
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


def _signed_raw(world: World, payload: bytes) -> str:
    """A correctly signed token whose payload is ``payload`` as it is (not a claims object)."""
    current = world.keys.ring.current
    header = b64(json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": current.kid}).encode())
    signing_input = f"{header}.{b64(payload)}".encode()
    signature = current.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{b64(signature)}"


def _signed_by_another_key(world: World) -> str:
    """Our kid, a stranger's signature."""
    header, payload, _ = world.mint().split(".")
    stranger = key_pool()(0).private_key
    signature = stranger.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64(signature)}"


def _another_spelling(world: World) -> str:
    """The same signature bytes written with other unused low bits in the last character."""
    header, payload, signature = world.mint().split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_":
        variant = signature[:-1] + char
        decoded = base64.urlsafe_b64decode(variant + "=" * (-len(variant) % 4))
        if variant != signature and decoded == raw:
            return f"{header}.{payload}.{variant}"
    raise AssertionError("no other spelling")


def _claims_json(world: World, **raw: str) -> bytes:
    """Valid claims with some values written as raw JSON (numbers json.dumps cannot write)."""
    text = json.dumps({**world.claims(), **dict.fromkeys(raw, 0)})
    for name, value in raw.items():
        text = text.replace(f'"{name}": 0', f'"{name}": {value}')
    return text.encode()


def _standard_alphabet(world: World) -> str:
    """The signature in standard base64 (``+``, ``/``, padded): the same bytes, not base64url."""
    header, payload, signature = world.mint().split(".")
    while "-" not in signature and "_" not in signature:
        header, payload, signature = world.mint().split(".")
    standard = signature.replace("-", "+").replace("_", "/")
    return f"{header}.{payload}.{standard}"


def _padded(world: World) -> str:
    token = world.mint()
    return token + "=" * (-len(token.rsplit(".", 1)[1]) % 4 or 4)


def _without(name: str) -> Callable[[World], str]:
    def build(world: World) -> str:
        claims = world.claims()
        del claims[name]
        return world.sign(claims)

    return build


BAD_TOKENS: list[tuple[str, Callable[[World], str], str]] = [
    ("alg-none", _alg_none, "wrong algorithm"),
    ("hs256-with-public-key", _hs256_with_public_key, "wrong algorithm"),
    ("unknown-kid", _unknown_kid, "unknown kid"),
    (
        "jku-header",
        lambda w: w.sign(w.claims(), jku="https://evil.example/jwks"),
        "foreign key reference in header",
    ),
    (
        "jwk-header",
        lambda w: w.sign(w.claims(), jwk={"kty": "RSA"}),
        "foreign key reference in header",
    ),
    (
        "x5u-header",
        lambda w: w.sign(w.claims(), x5u="https://evil.example/cert"),
        "foreign key reference in header",
    ),
    ("tampered-payload", _tampered, "bad signature"),
    ("wrong-typ", lambda w: w.sign(w.claims(), typ="JWT"), "not an access token"),
    (
        "wrong-issuer",
        lambda w: w.sign({**w.claims(), "iss": "https://evil.example"}),
        "wrong issuer",
    ),
    ("token-for-other-host", lambda w: w.mint(B), "wrong audience"),
    ("audience-list", lambda w: w.sign({**w.claims(), "aud": [A.resource]}), "malformed claims"),
    ("missing-jti", _without("jti"), "missing claim"),
    ("missing-exp", _without("exp"), "missing claim"),
    ("groups-not-a-list", lambda w: w.sign({**w.claims(), "groups": "admins"}), "malformed claims"),
    ("exp-not-a-number", lambda w: w.sign({**w.claims(), "exp": "tomorrow"}), "malformed claims"),
    ("exp-infinite", lambda w: _signed_raw(w, _claims_json(w, exp="1e400")), "malformed claims"),
    (
        "exp-past-a-float",
        lambda w: _signed_raw(w, _claims_json(w, exp="9" * 400)),
        "malformed claims",
    ),
    ("garbage", lambda w: "not-a-jwt", "malformed"),
    ("three-garbage-parts", lambda w: "a.b.c", "malformed"),
    ("four-segments", lambda w: w.mint() + ".e30", "malformed"),
    ("empty-signature", lambda w: w.mint().rsplit(".", 1)[0] + ".", "malformed"),
    ("signed-by-another-key", _signed_by_another_key, "bad signature"),
    ("payload-a-list", lambda w: _signed_raw(w, b"[1, 2]"), "malformed"),
    ("signature-spelled-otherwise", _another_spelling, "malformed"),
    ("payload-not-json", lambda w: _signed_raw(w, b"{nope"), "malformed"),
    ("payload-nan", lambda w: _signed_raw(w, b'{"exp": NaN}'), "malformed"),
    ("payload-lone-surrogate", lambda w: _signed_raw(w, b'{"sub": "\\ud800"}'), "malformed"),
    ("signature-standard-base64", _standard_alphabet, "malformed"),
    ("signature-padded", _padded, "malformed"),
    ("not-ascii", lambda w: w.mint()[:-1] + "\u00e9", "malformed"),
    ("oversized", lambda w: "a" * 9000, "oversized"),
]


@pytest.mark.parametrize(
    ("build", "reason"), [(b, r) for _, b, r in BAD_TOKENS], ids=[i for i, _, _ in BAD_TOKENS]
)
async def test_bad_tokens_are_refused(
    world: World, build: Callable[[World], str], reason: str
) -> None:
    """Each forged, broken or foreign token is refused with the reason logged."""
    with pytest.raises(InvalidToken) as caught:
        world.verifier.verify(build(world), A)
    assert caught.value.reason == reason


async def test_a_header_already_seen_on_a_good_token_vouches_for_nothing(world: World) -> None:
    """The JOSE header of a verified token is remembered (it picks the key on the next miss);
    a forged token carrying that very header is still refused for what else it holds."""
    world.verifier.verify(world.mint(), A)
    for build, reason in ((_tampered, "bad signature"), (_signed_by_another_key, "bad signature")):
        with pytest.raises(InvalidToken) as caught:
            world.verifier.verify(build(world), A)
        assert caught.value.reason == reason
    with pytest.raises(InvalidToken, match="wrong algorithm"):
        world.verifier.verify(_alg_none(world), A)


async def test_the_cache_keeps_the_tokens_used_last(world: World) -> None:
    """Bounded by verifyCacheSize, least recently used out first: a token in use stays."""
    small = World(world.keys, world.clock, cache_size=3)
    busy, *others = [world.mint() for _ in range(4)]
    small.verifier.verify(busy, A)
    for token in others:
        small.verifier.verify(token, A)
        small.verifier.verify(busy, A)
    assert small.verifier.cached_entries == 3
    verified = small.verifier._verify_signed
    misses = 0

    def counting(token: str) -> Any:
        nonlocal misses
        misses += 1
        return verified(token)

    small.verifier._verify_signed = counting  # type: ignore[method-assign]
    small.verifier.verify(busy, A)
    small.verifier.verify(others[-1], A)
    assert misses == 0
    small.verifier.verify(others[0], A)  # pushed out by the others meanwhile
    assert misses == 1


async def test_expiry_and_not_before_use_the_injected_clock_with_skew(world: World) -> None:
    """Valid until exp + 30 s skew; refused before nbf - 30 s."""
    token = world.mint()
    world.clock.advance(3600 + 29)
    world.verifier.verify(token, A)
    world.clock.advance(2)
    with pytest.raises(InvalidToken, match="expired"):
        world.verifier.verify(token, A)
    future = world.sign(
        {**world.claims(), "nbf": int(world.clock()) + 60, "iat": int(world.clock())}
    )
    with pytest.raises(InvalidToken, match="not yet valid"):
        world.verifier.verify(future, A)


async def test_cache_never_outlives_exp(world: World) -> None:
    """A cached token is refused once expired (plus skew), exactly like an uncached one."""
    token = world.mint()
    world.verifier.verify(token, A)
    assert world.verifier.cached_entries == 1
    world.clock.advance(3600 + 31)
    with pytest.raises(InvalidToken, match="expired"):
        world.verifier.verify(token, A)


async def test_cache_size_zero_disables_the_cache(world: World) -> None:
    """verifyCacheSize 0 verifies the signature on every request."""
    uncached = World(world.keys, world.clock, cache_size=0)
    uncached.verifier.verify(world.mint(), A)
    assert uncached.verifier.cached_entries == 0


async def test_cached_token_for_one_host_is_refused_for_another(world: World) -> None:
    """The cache remembers the audience: B's token verified once is still refused at A."""
    token = world.mint(B)
    world.verifier.verify(token, B)
    with pytest.raises(InvalidToken, match="wrong audience"):
        world.verifier.verify(token, A)


async def test_revocation_applies_to_cached_tokens(world: World) -> None:
    """Revoking a jti refuses the token at once, even though it is cached."""
    token = world.mint()
    claims = world.verifier.verify(token, A).claims
    world.verifier.revocations.revoke(claims.jti, claims.expires_at)
    with pytest.raises(InvalidToken, match="revoked"):
        world.verifier.verify(token, A)


async def test_tokens_survive_rotation_until_they_expire(world: World) -> None:
    """A token signed before a rotation verifies after it (retired key stays published)."""
    token = world.mint()
    world.clock.advance(3500)
    await world.keys.rotate()
    World(world.keys, world.clock).verifier.verify(token, A)
    world.clock.advance(3600)
    await world.keys.rotate()
    with pytest.raises(InvalidToken):
        World(world.keys, world.clock).verifier.verify(token, A)


async def test_revocation_outlives_the_clock_skew(world: World) -> None:
    """A revoked token stays refused through the skew window after exp, not only until exp."""
    revocations = RevocationList(world.clock, clock_skew=30)
    verifier: TokenVerifier[AccessClaims] = TokenVerifier(
        world.keys,
        lambda claims: claims,
        clock_skew=timedelta(seconds=30),
        cache_size=100,
        revocations=revocations,
        clock=world.clock,
    )
    token = world.mint()
    claims = verifier.verify(token, A).claims
    revocations.revoke(claims.jti, claims.expires_at)
    world.clock.advance(3600 + 10)
    with pytest.raises(InvalidToken, match="revoked"):
        verifier.verify(token, A)
