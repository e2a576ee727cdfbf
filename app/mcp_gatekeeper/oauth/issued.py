"""Every access token issued to a client, by client and user, so an administrator can end it.

An access token is a self-contained JWT and ``/authenticate`` never asks the store about it: the
only way to stop one before its ``exp`` is its ``jti`` on the revocation list. Tokens issued with
a refresh token are also found through their family, but a client without refresh tokens has no
family, so every token is recorded here when it is minted (one record per token under its
``jti``, kept until the token expires) and an administrator's revoke puts each live match on the
revocation list, which every process enforces within ``store.pollInterval`` + ``store.timeout``.
The hot path is unchanged: one more store write per ``/token``, none per ``/authenticate``.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from ..tokens import IssuedToken
from .context import OAuthContext

ISSUED = "issued-tokens"


class IssuedRecord(BaseModel):
    """Who holds a live access token; never the token itself."""

    client_id: str
    #: As the client named itself when the token was issued (metadata-document clients have
    #: no stored registration to take it from).
    client_name: str | None = None
    subject: str
    email: str
    groups: tuple[str, ...] = ()
    expires_at: float


async def remember(oauth: OAuthContext, issued: IssuedToken, record: IssuedRecord) -> None:
    """Written before the token is handed out: a token the store did not take is never given
    (``StoreUnavailable`` answers 503)."""
    ttl = issued.expires_at + oauth.config.tokens.clock_skew.total_seconds() - oauth.clock()
    await oauth.store.put(ISSUED, issued.jti, oauth.records.dump(record), max(ttl, 1.0))


async def live(oauth: OAuthContext) -> list[tuple[str, IssuedRecord]]:
    """Every access token that may still pass ``/authenticate`` (administration: a scan)."""
    deadline = oauth.clock() - oauth.config.tokens.clock_skew.total_seconds()
    found = []
    for jti, raw in await oauth.store.items(ISSUED):
        record = oauth.records.load(IssuedRecord, raw)
        if record is not None and record.expires_at > deadline:
            found.append((jti, record))
    return found


async def revoke_where(oauth: OAuthContext, matches: Callable[[IssuedRecord], bool]) -> int:
    """Put every live token ``matches`` picks on the revocation list and publish it to the
    store; how many were not revoked already."""
    revoked = 0
    for jti, record in await live(oauth):
        if matches(record) and jti not in oauth.revocations:
            oauth.revocations.revoke(jti, record.expires_at)
            revoked += 1
    await oauth.revocations.publish()
    return revoked
