"""The identity provider's secret of each user's latest login, kept for ``upstream`` hosts.

A login's provider secret (an upstream refresh token, a GitHub user token: ``User.recheck_secret``)
is sealed in the store by subject when the login gets its code, so any replica can turn it into
the provider's access token at /authenticate. A refresh that rotates it writes the new one back
by compare-and-swap; a stale write is dropped (the token it brought is still good to use).
"""

from __future__ import annotations

import logging

from ..oauth.record_stores import RecordStore
from ..oauth.records import ProviderGrant, User
from ..providers.base import LoginDenied, ProviderError, ProviderToken, ProviderTokens
from .cache import CredentialUnavailable

log = logging.getLogger(__name__)


async def remember(grants: RecordStore[ProviderGrant], user: User, now: float, ttl: float) -> None:
    """Keep ``user``'s provider secret (none for the demo provider: nothing to keep)."""
    if user.recheck_secret is None:
        return
    record = ProviderGrant(subject=user.subject, secret=user.recheck_secret, updated_at=now)
    await grants.put(user.subject, record, ttl)


async def provider_token(
    grants: RecordStore[ProviderGrant],
    provider: ProviderTokens,
    subject: str,
    now: float,
    ttl: float,
) -> ProviderToken:
    """The provider's current access token for ``subject``, or ``CredentialUnavailable``."""
    stored = await grants.get_stored(subject)
    if stored is None:
        raise CredentialUnavailable("no sign-in with the identity provider is on record")
    grant, raw = stored
    try:
        token = await provider.user_token(grant.secret)
    except LoginDenied as exc:
        # The provider ended the login: its secret is of no more use to anyone.
        await grants.forget(subject)
        raise CredentialUnavailable(exc.reason) from None
    except ProviderError as exc:
        raise CredentialUnavailable(str(exc)) from None
    if token.secret != grant.secret:
        rotated = grant.model_copy(update={"secret": token.secret, "updated_at": now})
        if not await grants.replace_if(subject, raw, grants.dump(rotated), ttl):
            log.info("a rotated provider secret lost to a newer write", extra={"sub": subject})
    return token
