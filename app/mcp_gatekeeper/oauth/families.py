"""Refresh-token families: one per login, rotated on every use (OAuth 2.1 §4.3.1, MCP A8).

Refresh tokens are opaque and stored only as hashes. Each use returns a new token; presenting an
already-rotated token means it was stolen (or the client misbehaves), so the whole family is
revoked, including the access tokens issued from it.

Several processes may handle the same family at once, so a family record is never written
blindly: every write is a compare-and-swap against the record as it was read (which holds the
current token's hash). A rotation whose swap fails lost a race for the same refresh token and is
refused, so exactly one of two concurrent redemptions wins. Revocation re-reads and retries until
its swap lands, so it is never undone by a concurrent write.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from ..ops.audit import audit
from ..services import Services
from ..store import StoreUnavailable
from .hashing import secret_key
from .records import RefreshFamily, User

#: Writers that keep losing the swap are refused rather than looping (each loss is progress
#: by another writer, so this is only reached under a pathological storm of writes).
MAX_SWAP_ATTEMPTS = 16


class LostRace(Exception):
    """Another request rotated this family first."""


def _family_ttl(services: Services, family: RefreshFamily) -> float:
    remaining = family.created_at + services.config.tokens.max_session_age.total_seconds()
    return max(remaining - services.clock(), 1.0)


def _token_ttl(services: Services, family: RefreshFamily) -> float:
    ttl = min(
        services.config.tokens.refresh_token_ttl.total_seconds(), _family_ttl(services, family)
    )
    return max(ttl, 1.0)


async def _swap(services: Services, family: RefreshFamily) -> bool:
    """Write ``family`` if the stored record is still the one it was read as (or is new)."""
    families = services.records.families
    value = families.dump(family)
    ttl = _family_ttl(services, family)
    if family._stored is None:
        done = await families.add(family.family_id, value, ttl)
    else:
        done = await families.replace_if(family.family_id, family._stored, value, ttl)
    if done:
        family._stored = value
    return done


def _opened(family: RefreshFamily, raw: bytes) -> RefreshFamily:
    family._stored = raw
    return family


async def load(services: Services, family_id: str) -> RefreshFamily | None:
    found = await services.records.families.get_stored(family_id)
    return None if found is None else _opened(*found)


async def load_all(services: Services) -> list[RefreshFamily]:
    """Every family in the store (administration: whole-store scans are not for hot paths)."""
    return [_opened(family, raw) for _key, family, raw in await services.records.families.scan()]


async def _update(
    services: Services, family: RefreshFamily, change: Callable[[RefreshFamily], None]
) -> RefreshFamily:
    """Apply ``change`` and write it; on a lost swap re-read the family and apply it again."""
    for _attempt in range(MAX_SWAP_ATTEMPTS):
        change(family)
        if await _swap(services, family):
            return family
        fresh = await load(services, family.family_id)
        if fresh is None:  # expired meanwhile: nothing left to change
            return family
        family = fresh
    raise StoreUnavailable(f"refresh family {family.family_id} kept changing")


def _issue(family: RefreshFamily) -> str:
    token = secrets.token_urlsafe(32)
    family.current_hash = secret_key(token)
    return token


async def _remember_token(services: Services, family: RefreshFamily) -> None:
    # Rotated tokens keep pointing at the family, so their reuse is recognised.
    ttl = _token_ttl(services, family)
    await services.records.refresh_tokens.put(family.current_hash, family.family_id, ttl)


async def start_family(
    services: Services,
    client_id: str,
    resource: str,
    scopes: tuple[str, ...],
    user: User,
    *,
    jti: str,
    expires_at: float,
    dpop_jkt: str | None = None,
) -> tuple[RefreshFamily, str]:
    """A new login's family, written once with the access token issued alongside it (and, for
    a public DPoP client, bound to its key: ``grants/common.refresh_binding``)."""
    now = services.clock()
    family = RefreshFamily(
        family_id=secrets.token_urlsafe(16),
        client_id=client_id,
        resource=resource,
        scopes=scopes,
        user=user,
        created_at=now,
        checked_at=now,
        current_hash="",
        dpop_jkt=dpop_jkt,
    )
    token = _issue(family)
    _record(family, jti, expires_at, now)
    if not await _swap(services, family):
        raise StoreUnavailable("a new refresh family id was already taken")
    await _remember_token(services, family)
    return family, token


async def find_family(services: Services, token: str) -> tuple[RefreshFamily, bool] | None:
    """The family a refresh token belongs to, and whether it is the current token."""
    found = await services.records.refresh_tokens.family_of(token)
    if found is None:
        return None
    family_id, token_hash = found
    family = await load(services, family_id)
    if family is None:
        return None
    return family, family.current_hash == token_hash


def _record(family: RefreshFamily, jti: str, expires_at: float, now: float) -> None:
    live = [(old, exp) for old, exp in family.access_tokens if exp > now and old != jti]
    family.access_tokens = [*live, (jti, expires_at)]


async def rotate(services: Services, family: RefreshFamily, jti: str, expires_at: float) -> str:
    """Move the family to a new refresh token and record the access token issued with it, in
    one compare-and-swap; ``LostRace`` if the family changed since it was read."""
    token = _issue(family)
    _record(family, jti, expires_at, services.clock())
    if not await _swap(services, family):
        raise LostRace(family.family_id)
    await _remember_token(services, family)
    return token


async def revoke_where(
    services: Services, matches: Callable[[RefreshFamily], bool], reason: str
) -> int:
    """End every live family ``matches`` picks (administration); how many were ended."""
    ended = 0
    for family in await load_all(services):
        if matches(family) and not family.revoked:
            await revoke_family(services, family, reason)
            ended += 1
    return ended


async def revoke_family(services: Services, family: RefreshFamily, reason: str) -> None:
    """End the login: no refresh works any more, and its access tokens are refused."""

    def revoked(latest: RefreshFamily) -> None:
        latest.revoked = True

    family = await _update(services, family, revoked)
    for jti, expires_at in family.access_tokens:
        services.revocations.revoke(jti, expires_at)
    await services.revocations.publish()
    audit(
        "grant_revoked",
        reason=reason,
        client_id=family.client_id,
        sub=family.user.subject,
        family=family.family_id,
    )
