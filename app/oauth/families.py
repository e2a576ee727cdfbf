"""Refresh-token families: one per login, rotated on every use (OAuth 2.1 §4.3.1, MCP A8).

Refresh tokens are opaque and stored only as hashes. Each use returns a new token; presenting an
already-rotated token means it was stolen (or the client misbehaves), so the whole family is
revoked, including the access token last issued from it.
"""

from __future__ import annotations

import secrets

from ..ops.audit import audit
from .context import OAuthContext
from .hashing import secret_key
from .records import RefreshFamily, User

FAMILIES = "families"
REFRESH = "refresh"


async def _save(oauth: OAuthContext, family: RefreshFamily) -> None:
    remaining = family.created_at + oauth.config.tokens.max_session_age.total_seconds()
    ttl = max(remaining - oauth.clock(), 1.0)
    await oauth.store.put(FAMILIES, family.family_id, family.model_dump_json().encode(), ttl)


async def _new_token(oauth: OAuthContext, family: RefreshFamily) -> str:
    token = secrets.token_urlsafe(32)
    family.current_hash = secret_key(token)
    ttl = min(
        oauth.config.tokens.refresh_token_ttl.total_seconds(),
        family.created_at + oauth.config.tokens.max_session_age.total_seconds() - oauth.clock(),
    )
    # Rotated tokens keep pointing at the family, so their reuse is recognised.
    await oauth.store.put(REFRESH, family.current_hash, family.family_id.encode(), max(ttl, 1.0))
    await _save(oauth, family)
    return token


async def start_family(
    oauth: OAuthContext, client_id: str, resource: str, scopes: tuple[str, ...], user: User
) -> tuple[RefreshFamily, str]:
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
    return family, await _new_token(oauth, family)


async def find_family(oauth: OAuthContext, token: str) -> tuple[RefreshFamily, bool] | None:
    """The family a refresh token belongs to, and whether it is the current token."""
    token_hash = secret_key(token)
    family_id = await oauth.store.get(REFRESH, token_hash)
    if family_id is None:
        return None
    raw = await oauth.store.get(FAMILIES, family_id.decode())
    if raw is None:
        return None
    family = RefreshFamily.model_validate_json(raw)
    return family, family.current_hash == token_hash


async def rotate(oauth: OAuthContext, family: RefreshFamily) -> str:
    return await _new_token(oauth, family)


async def record_access_token(
    oauth: OAuthContext, family: RefreshFamily, jti: str, expires_at: float
) -> None:
    now = oauth.clock()
    live = [(old, exp) for old, exp in family.access_tokens if exp > now]
    family.access_tokens = [*live, (jti, expires_at)]
    await _save(oauth, family)


async def revoke_family(oauth: OAuthContext, family: RefreshFamily, reason: str) -> None:
    """End the login: no refresh works any more, and its access tokens are refused."""
    family.revoked = True
    await _save(oauth, family)
    for jti, expires_at in family.access_tokens:
        oauth.revocations.revoke(jti, expires_at)
    audit(
        "grant_revoked",
        reason=reason,
        client_id=family.client_id,
        sub=family.user.subject,
        family=family.family_id,
    )
