"""The key ring across rotations, with an injected clock."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from datetime import timedelta

import jwt
import pytest

from mcp_gatekeeper.keys import KeyManager, KeyRing, NotReady, thumbprint
from mcp_gatekeeper.store import MemoryStore
from tests.support import FakeClock, host, key_pool, make_config

HOUR = 3600.0


def manager(clock: FakeClock, store: MemoryStore | None = None) -> KeyManager:
    return KeyManager(
        store if store is not None else MemoryStore(clock=clock),
        rotation_interval=timedelta(hours=1),
        token_lifetime=timedelta(hours=1),
        clock=clock,
        generate=key_pool(),
    )


def kids(ring: KeyRing) -> list[str]:
    return [key["kid"] for key in ring.jwks()["keys"]]


async def test_start_publishes_current_and_next() -> None:
    """A fresh ring has a signing key and the next one already published."""
    keys = manager(FakeClock())
    with pytest.raises(NotReady):
        _ = keys.ring
    await keys.start()
    ring = keys.ring
    assert ring.current.kid != ring.next.kid
    assert kids(ring) == [ring.current.kid, ring.next.kid]
    assert set(ring.verification_keys) == {ring.current.kid, ring.next.kid}


async def test_rotation_promotes_next_and_keeps_previous_until_tokens_expire() -> None:
    """next → current → retired; a retired key is dropped only once its tokens are dead."""
    clock = FakeClock()
    keys = manager(clock)
    await keys.start()
    first, second = keys.ring.current, keys.ring.next
    clock.advance(HOUR)
    await keys.rotate()
    assert keys.ring.current.kid == second.kid
    assert first.kid in keys.ring.verification_keys, "tokens signed an instant ago still verify"
    third = keys.ring.next
    assert kids(keys.ring) == [second.kid, third.kid, first.kid]
    clock.advance(HOUR)
    await keys.rotate()
    assert first.kid not in keys.ring.verification_keys
    assert keys.ring.current.kid == third.kid
    assert len(keys.ring.jwks()["keys"]) == 3


async def test_start_catches_up_on_missed_rotations() -> None:
    """A ring loaded from the store after a long pause rotates until it is current."""
    clock = FakeClock()
    store = MemoryStore(clock=clock, max_entries=10)
    keys = manager(clock, store)
    await keys.start()
    old = keys.ring.current.kid
    clock.advance(2.5 * HOUR)
    again = manager(clock, store)
    await again.start()
    assert again.ring.current.kid != old
    assert again.ring.rotation_due_at(HOUR) > clock()


async def test_ring_survives_the_store_round_trip() -> None:
    """Another manager on the same store sees the same keys (what several replicas rely on)."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    keys = manager(clock, store)
    await keys.start()
    other = manager(clock, store)
    await other.start()
    assert kids(other.ring) == kids(keys.ring)


async def test_run_rotates_on_schedule() -> None:
    """The background task rotates when the interval is over."""
    clock = FakeClock()
    keys = KeyManager(
        MemoryStore(clock=clock),
        rotation_interval=timedelta(minutes=1),
        token_lifetime=timedelta(hours=1),
        clock=clock,
        generate=key_pool(),
    )
    await keys.start()
    before = keys.ring.current.kid
    clock.advance(60)
    task = asyncio.create_task(keys.run())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if keys.ring.current.kid != before:
            break
    task.cancel()
    assert keys.ring.current.kid != before


def test_kid_is_the_rfc7638_thumbprint() -> None:
    """kid = base64url(SHA-256 of the canonical JWK), RFC 7638 §3."""
    key = key_pool()(0)
    jwk = key.public_jwk()
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    assert key.kid == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert thumbprint(key.public_key) == key.kid
    assert jwk["alg"] == "RS256" and jwk["use"] == "sig"


async def test_jwks_keys_verify_minted_tokens() -> None:
    """A third party can verify our tokens with nothing but the published JWKS."""
    from mcp_gatekeeper.tokens import Identity, mint_access_token

    clock = FakeClock()
    keys = manager(clock)
    await keys.start()
    target = host(make_config(), "a.example.test")
    token = mint_access_token(
        keys.ring,
        target,
        Identity("alice"),
        scopes=["read"],
        client_id="c",
        now=clock(),
        lifetime=timedelta(hours=1),
    ).token
    jwk_set = jwt.PyJWKSet.from_dict(keys.ring.jwks())
    kid = jwt.get_unverified_header(token)["kid"]
    signing = next(key for key in jwk_set.keys if key.key_id == kid)
    claims = jwt.decode(
        token,
        signing.key,
        algorithms=["RS256"],
        audience=target.resource,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert claims["aud"] == "https://a.example.test/mcp"
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
