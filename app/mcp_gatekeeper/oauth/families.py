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
from ..store import StoreUnavailable
from .context import OAuthContext
from .hashing import secret_key
from .records import RefreshFamily, User

FAMILIES = "families"
REFRESH = "refresh"
#: Writers that keep losing the swap are refused rather than looping (each loss is progress
#: by another writer, so this is only reached under a pathological storm of writes).
MAX_SWAP_ATTEMPTS = 16


class LostRace(Exception):
    """Another request rotated this family first."""


def _family_ttl(oauth: OAuthContext, family: RefreshFamily) -> float:
    remaining = family.created_at + oauth.config.tokens.max_session_age.total_seconds()
    return max(remaining - oauth.clock(), 1.0)


def _token_ttl(oauth: OAuthContext, family: RefreshFamily) -> float:
    ttl = min(oauth.config.tokens.refresh_token_ttl.total_seconds(), _family_ttl(oauth, family))
    return max(ttl, 1.0)


async def _swap(oauth: OAuthContext, family: RefreshFamily) -> bool:
    """Write ``family`` if the stored record is still the one it was read as (or is new)."""
    value = oauth.records.dump(family)
    ttl = _family_ttl(oauth, family)
    if family._stored is None:
        done = await oauth.store.add(FAMILIES, family.family_id, value, ttl)
    else:
        done = await oauth.store.replace_if(FAMILIES, family.family_id, family._stored, value, ttl)
    if done:
        family._stored = value
    return done


def _opened(oauth: OAuthContext, raw: bytes | None) -> RefreshFamily | None:
    family = oauth.records.load(RefreshFamily, raw)
    if family is not None:
        family._stored = raw
    return family


async def load(oauth: OAuthContext, family_id: str) -> RefreshFamily | None:
    return _opened(oauth, await oauth.store.get(FAMILIES, family_id))


async def load_all(oauth: OAuthContext) -> list[RefreshFamily]:
    """Every family in the store (administration: whole-store scans are not for hot paths)."""
    opened = [_opened(oauth, raw) for _key, raw in await oauth.store.items(FAMILIES)]
    return [family for family in opened if family is not None]


async def _update(
    oauth: OAuthContext, family: RefreshFamily, change: Callable[[RefreshFamily], None]
) -> RefreshFamily:
    """Apply ``change`` and write it; on a lost swap re-read the family and apply it again."""
    for _attempt in range(MAX_SWAP_ATTEMPTS):
        change(family)
        if await _swap(oauth, family):
            return family
        fresh = await load(oauth, family.family_id)
        if fresh is None:  # expired meanwhile: nothing left to change
            return family
        family = fresh
    raise StoreUnavailable(f"refresh family {family.family_id} kept changing")


def _issue(family: RefreshFamily) -> str:
    token = secrets.token_urlsafe(32)
    family.current_hash = secret_key(token)
    return token


async def _remember_token(oauth: OAuthContext, family: RefreshFamily) -> None:
    # Rotated tokens keep pointing at the family, so their reuse is recognised.
    ttl = _token_ttl(oauth, family)
    await oauth.store.put(REFRESH, family.current_hash, family.family_id.encode(), ttl)


async def start_family(
    oauth: OAuthContext,
    client_id: str,
    resource: str,
    scopes: tuple[str, ...],
    user: User,
    *,
    jti: str,
    expires_at: float,
) -> tuple[RefreshFamily, str]:
    """A new login's family, written once with the access token issued alongside it."""
    now = oauth.clock()
    family = RefreshFamily(
        family_id=secrets.token_urlsafe(16),
        client_id=client_id,
        resource=resource,
        scopes=scopes,
        user=user,
        created_at=now,
        checked_at=now,
        current_hash="",
    )
    token = _issue(family)
    _record(family, jti, expires_at, now)
    if not await _swap(oauth, family):
        raise StoreUnavailable("a new refresh family id was already taken")
    await _remember_token(oauth, family)
    return family, token


async def find_family(oauth: OAuthContext, token: str) -> tuple[RefreshFamily, bool] | None:
    """The family a refresh token belongs to, and whether it is the current token."""
    token_hash = secret_key(token)
    family_id = await oauth.store.get(REFRESH, token_hash)
    if family_id is None:
        return None
    family = await load(oauth, family_id.decode())
    if family is None:
        return None
    return family, family.current_hash == token_hash


def _record(family: RefreshFamily, jti: str, expires_at: float, now: float) -> None:
    live = [(old, exp) for old, exp in family.access_tokens if exp > now and old != jti]
    family.access_tokens = [*live, (jti, expires_at)]


async def rotate(oauth: OAuthContext, family: RefreshFamily, jti: str, expires_at: float) -> str:
    """Move the family to a new refresh token and record the access token issued with it, in
    one compare-and-swap; ``LostRace`` if the family changed since it was read."""
    token = _issue(family)
    _record(family, jti, expires_at, oauth.clock())
    if not await _swap(oauth, family):
        raise LostRace(family.family_id)
    await _remember_token(oauth, family)
    return token


async def revoke_where(
    oauth: OAuthContext, matches: Callable[[RefreshFamily], bool], reason: str
) -> int:
    """End every live family ``matches`` picks (administration); how many were ended."""
    ended = 0
    for family in await load_all(oauth):
        if matches(family) and not family.revoked:
            await revoke_family(oauth, family, reason)
            ended += 1
    return ended


async def revoke_family(oauth: OAuthContext, family: RefreshFamily, reason: str) -> None:
    """End the login: no refresh works any more, and its access tokens are refused."""

    def revoked(latest: RefreshFamily) -> None:
        latest.revoked = True

    family = await _update(oauth, family, revoked)
    for jti, expires_at in family.access_tokens:
        oauth.revocations.revoke(jti, expires_at)
    await oauth.revocations.publish()
    audit(
        "grant_revoked",
        reason=reason,
        client_id=family.client_id,
        sub=family.user.subject,
        family=family.family_id,
    )
