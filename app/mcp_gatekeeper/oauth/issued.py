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

from ..services import Services
from ..tokens import IssuedToken
from .records import IssuedRecord


async def remember(services: Services, issued: IssuedToken, record: IssuedRecord) -> None:
    """Written before the token is handed out: a token the store did not take is never given
    (``StoreUnavailable`` answers 503)."""
    now = services.clock()
    ttl = issued.expires_at + services.config.tokens.clock_skew.total_seconds() - now
    await services.records.issued.put(issued.jti, record, max(ttl, 1.0))


async def live(services: Services) -> list[tuple[str, IssuedRecord]]:
    """Every access token that may still pass ``/authenticate`` (administration: a scan)."""
    deadline = services.clock() - services.config.tokens.clock_skew.total_seconds()
    found = await services.records.issued.scan()
    return [(jti, record) for jti, record, _raw in found if record.expires_at > deadline]


async def revoke_where(services: Services, matches: Callable[[IssuedRecord], bool]) -> int:
    """Put every live token ``matches`` picks on the revocation list and publish it to the
    store; how many were not revoked already."""
    revoked = 0
    for jti, record in await live(services):
        if matches(record) and jti not in services.revocations:
            services.revocations.revoke(jti, record.expires_at)
            revoked += 1
    await services.revocations.publish()
    return revoked
