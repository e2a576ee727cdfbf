"""The ``refresh_token`` grant (OAuth 2.1 §4.3): rotation, narrowing, and the identity
provider asked again every ``recheckInterval``."""

from __future__ import annotations

from typing import Any

from ...ops.audit import audit
from ...providers import LoginDenied, ProviderError
from ...services import Services
from .. import families
from ..clients.models import RegisteredClient
from ..errors import InvalidGrant, InvalidScope, TemporarilyUnavailable, UnauthorizedClient
from ..records import RefreshFamily, User
from ..token_requests import RefreshTokenGrant, TokenCall
from .common import access_token, check_resource, token_response


async def refresh_token(
    services: Services, call: TokenCall, client: RegisteredClient, grant: RefreshTokenGrant
) -> dict[str, Any]:
    if not client.may_refresh():
        raise UnauthorizedClient("This client did not register the refresh_token grant")
    found = await families.find_family(services, grant.refresh_token)
    if found is None:
        raise InvalidGrant("The refresh token is invalid or expired")
    family, current = found
    if family.client_id != client.client_id:
        raise InvalidGrant("The refresh token was issued to another client")
    if family.revoked:
        raise InvalidGrant("This grant was revoked; sign in again")
    # Before the replay check: someone who stole a bound refresh token but not the key can
    # neither use it nor end the user's login by replaying it.
    _check_key(family, call)
    if not current:
        await families.revoke_family(services, family, "refresh token reused")
        audit("replay_detected", kind="refresh_token", family=family.family_id)
        raise InvalidGrant("The refresh token was already used; sign in again")
    services.refresh_limit.take(family.family_id)
    check_resource(grant.resource, family.resource)
    scopes = family.scopes
    if grant.scope is not None:
        asked = tuple(grant.scope.split())
        if not set(asked) <= set(family.scopes):
            raise InvalidScope("A refresh may only narrow the granted scopes")
        scopes = tuple(scope for scope in family.scopes if scope in asked)
    await _recheck(services, family)
    token = await access_token(services, call, client, family.resource, scopes, family.user)
    try:
        refresh = await families.rotate(services, family, token.jti, token.expires_at)
    except families.LostRace:
        # Another request redeemed this refresh token a moment ago (another replica, a retry):
        # exactly one wins. Not treated as theft: the winner's tokens stay valid, and a later
        # reuse of this token is caught as a replay like any other.
        audit("refresh_race_lost", client_id=client.client_id, family=family.family_id)
        raise InvalidGrant("The refresh token was used by a concurrent request") from None
    audit("token_refreshed", client_id=client.client_id, sub=family.user.subject)
    return token_response(token, refresh)


def _check_key(family: RefreshFamily, call: TokenCall) -> None:
    """RFC 9449 §5: a public client's refresh token only works with the DPoP key it is bound to."""
    if family.dpop_jkt is None or call.dpop_jkt == family.dpop_jkt:
        return
    if call.dpop_jkt is None:
        raise InvalidGrant(
            "The refresh token is bound to a DPoP key: send a DPoP proof signed with that key"
        )
    raise InvalidGrant(
        "The refresh token is bound to another DPoP key than the one this proof is signed with"
    )


async def _recheck(services: Services, family: RefreshFamily) -> None:
    """Offboarded users lose access: ask the identity provider again every recheckInterval."""
    now = services.clock()
    if now >= family.created_at + services.config.tokens.max_session_age.total_seconds():
        await families.revoke_family(services, family, "maximum session age reached")
        raise InvalidGrant("The session reached its maximum age; sign in again")
    if now - family.checked_at < services.config.tokens.recheck_interval.total_seconds():
        return
    try:
        identity = await services.provider.recheck(family.user.to_upstream())
    except LoginDenied as exc:
        await families.revoke_family(services, family, f"re-check refused: {exc.reason}")
        raise InvalidGrant(f"Access was withdrawn: {exc.reason}") from None
    except ProviderError:
        # A short outage of the identity provider must not log everybody out; a long one (or
        # an upstream that answers nonsense for good) must not let a login run unchecked until
        # maxSessionAge. 503 rather than invalid_grant: the client keeps its refresh token and
        # retries, and the family is still there when the provider comes back.
        unchecked = now - family.checked_at
        audit("recheck_failed", family=family.family_id, sub=family.user.subject)
        if unchecked > services.config.tokens.recheck_outage_grace.total_seconds():
            raise TemporarilyUnavailable(
                "The identity provider has not confirmed this user for too long and cannot be "
                "reached now; try again later"
            ) from None
        return
    reason = services.refusal_for(identity, family.resource)
    if reason is not None:
        await families.revoke_family(services, family, f"policy: {reason}")
        raise InvalidGrant(f"Access was withdrawn: {reason}")
    family.user = User.from_upstream(identity)
    family.checked_at = now
