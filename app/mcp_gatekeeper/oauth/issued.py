"""Every access token issued to a client, by client and user, so an administrator can end it.

An access token is a self-contained JWT and ``/authenticate`` never asks the store about it: the
only way to stop one before its ``exp`` is its ``jti`` on the revocation list. Tokens issued with
a refresh token are also found through their family, but a client without refresh tokens has no
family, so every token is recorded here when it is minted (one record per token under its
``jti``, kept until the token expires) and an administrator's revoke puts each live match on the
revocation list, which every process enforces within ``store.pollInterval`` + ``store.timeout``.
The hot path is unchanged: one more store write per ``/token``, none per ``/authenticate``.

A token exchanged from another (RFC 8693) is ended with it. Its record names its parent, which
is enough for an administrator's revoke (a scan anyway); ``/revoke`` is a client's request and
must not cost a scan of every token, so each parent also gets a small record listing its
children (``delegations``), written before the child is handed out.
"""

from __future__ import annotations

from collections.abc import Callable

from ..services import Services
from ..tokens import IssuedToken
from .errors import TemporarilyUnavailable
from .records import DelegatedTokens, IssuedRecord

#: Swaps of one parent's list lost to concurrent exchanges before giving up.
MAX_SWAP_ATTEMPTS = 16
#: Tokens one revocation ends through delegation at most: chains are at most 10 deep
#: (``maxDelegationDepth``), and an agent exchanging one token this often is itself abuse.
MAX_DESCENDANTS = 10_000


async def remember(services: Services, issued: IssuedToken, record: IssuedRecord) -> None:
    """Written before the token is handed out: a token the store did not take is never given
    (``StoreUnavailable`` answers 503)."""
    now = services.clock()
    ttl = issued.expires_at + services.config.tokens.clock_skew.total_seconds() - now
    if record.parent_jti is not None:
        await _add_child(services, record.parent_jti, issued.jti, record.expires_at, ttl)
    await services.records.issued.put(issued.jti, record, max(ttl, 1.0))


async def _add_child(
    services: Services, parent: str, child: str, expires_at: float, ttl: float
) -> None:
    """List ``child`` under ``parent`` (compare-and-swap: concurrent exchanges all land)."""
    store = services.records.delegations
    now = services.clock()
    for _attempt in range(MAX_SWAP_ATTEMPTS):
        found = await store.get_stored(parent)
        # A child never outlives its parent: children past their exp are dropped as we go.
        live = [] if found is None else [(j, exp) for j, exp in found[0].children if exp > now]
        value = store.dump(DelegatedTokens(children=[*live, (child, expires_at)]))
        keep = max(ttl, max(exp for _jti, exp in live) - now if live else 0.0, 1.0)
        if await store.write_if(parent, found, value, keep):
            return
    raise TemporarilyUnavailable("too many exchanges of one token at once; try again")


async def revoke_descendants(services: Services, jti: str) -> int:
    """Put every live token exchanged from ``jti`` (and from those, and so on) on the
    revocation list; how many. The caller publishes the list."""
    now = services.clock()
    pending, seen, revoked = [jti], {jti}, 0
    while pending and len(seen) < MAX_DESCENDANTS:
        found = await services.records.delegations.get(pending.pop())
        for child, expires_at in found.children if found is not None else []:
            if child in seen or expires_at <= now:
                continue
            seen.add(child)
            pending.append(child)
            if child not in services.revocations:
                services.revocations.revoke(child, expires_at)
                revoked += 1
    return revoked


async def live(services: Services) -> list[tuple[str, IssuedRecord]]:
    """Every access token that may still pass ``/authenticate`` (administration: a scan)."""
    deadline = services.clock() - services.config.tokens.clock_skew.total_seconds()
    found = await services.records.issued.scan()
    return [(jti, record) for jti, record, _raw in found if record.expires_at > deadline]


async def revoke_where(services: Services, matches: Callable[[IssuedRecord], bool]) -> int:
    """Put every live token ``matches`` picks, and every token exchanged from one of them, on
    the revocation list and publish it to the store; how many were not revoked already."""
    tokens = await live(services)
    ended = {jti for jti, record in tokens if matches(record)}
    grown = True
    while grown:  # each round adds one generation of delegated tokens (at most 10 deep)
        children = {jti for jti, record in tokens if record.parent_jti in ended} - ended
        ended |= children
        grown = bool(children)
    revoked = 0
    for jti, record in tokens:
        if jti in ended and jti not in services.revocations:
            services.revocations.revoke(jti, record.expires_at)
            revoked += 1
    await services.revocations.publish()
    return revoked
