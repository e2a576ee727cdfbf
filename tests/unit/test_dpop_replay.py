"""The replay table never forgets a live proof, and one key cannot fill it."""

from __future__ import annotations

from mcp_gatekeeper.tokens.dpop_replay import SeenProofs

NOW = 1_800_000_000.0


def test_a_proof_is_first_seen_once_until_its_window_ends() -> None:
    seen = SeenProofs()
    assert seen.first_use("k", "j1", window=60, now=NOW) is True
    assert seen.first_use("k", "j1", window=60, now=NOW + 59) is False
    assert seen.first_use("k", "j1", window=60, now=NOW + 61) is True, "forgotten once expired"


def test_a_flood_of_ones_own_proofs_never_evicts_a_captured_one() -> None:
    seen = SeenProofs(max_entries=100, max_per_key=100)
    assert seen.first_use("victim", "captured", window=60, now=NOW)
    results = {seen.first_use("attacker", f"j{i}", window=60, now=NOW) for i in range(200)}
    assert None in results, "a full table refuses new proofs"
    assert seen.first_use("victim", "captured", window=60, now=NOW + 1) is False


def test_one_key_holds_only_its_share() -> None:
    seen = SeenProofs(max_entries=100, max_per_key=10)
    assert all(seen.first_use("flood", f"j{i}", window=60, now=NOW) for i in range(10))
    assert seen.first_use("flood", "j10", window=60, now=NOW) is None
    assert seen.first_use("other", "j0", window=60, now=NOW) is True
    assert seen.first_use("flood", "j11", window=60, now=NOW + 61) is True, "room once expired"
    assert len(seen) == 1
