"""Server nonces every replica accepts, with no state per nonce, for one to two windows."""

from __future__ import annotations

from mcp_gatekeeper.keys import KeyRing, generate_signing_key
from mcp_gatekeeper.tokens.dpop_nonce import WINDOW, DpopNonces

NOW = 1_800_000_000.0


def _ring() -> KeyRing:
    return KeyRing(generate_signing_key(NOW), generate_signing_key(NOW), activated_at=NOW)


def test_a_nonce_is_good_at_every_replica_for_its_window_and_the_next() -> None:
    ring = _ring()
    issuer, other_replica = DpopNonces(lambda: ring), DpopNonces(lambda: ring)
    nonce = issuer.current(NOW)
    assert other_replica.accepts(nonce, NOW)
    assert other_replica.accepts(nonce, NOW + WINDOW)
    assert not other_replica.accepts(nonce, NOW + 2 * WINDOW + 1)
    assert not other_replica.accepts(nonce, NOW - WINDOW - 1), "not before it was issued"
    assert not other_replica.accepts(None, NOW)
    assert not other_replica.accepts(nonce[:-1] + ("A" if nonce[-1] != "A" else "B"), NOW)


def test_another_deployment_s_nonces_are_refused() -> None:
    ours, theirs = _ring(), _ring()
    assert not DpopNonces(lambda: ours).accepts(DpopNonces(lambda: theirs).current(NOW), NOW)


def test_nonces_survive_a_rotation_on_either_side_of_it() -> None:
    before = _ring()
    after = before.rotate(NOW, generate_signing_key(NOW), token_lifetime=3600)
    issued_before = DpopNonces(lambda: before).current(NOW)
    issued_after = DpopNonces(lambda: after).current(NOW)
    assert DpopNonces(lambda: after).accepts(issued_before, NOW)
    assert DpopNonces(lambda: before).accepts(issued_after, NOW), "a replica not yet rotated"
