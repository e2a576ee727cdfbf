"""The two grants of /token: ``authorization_code`` (with PKCE) and ``refresh_token``."""

from __future__ import annotations

from typing import Any

from ..ops.audit import audit
from ..providers import LoginDenied, ProviderError
from ..tokens import Identity, mint_access_token
from . import families, issued, pkce
from .clients.models import RegisteredClient
from .codes import CODES
from .context import OAuthContext, same_resource
from .errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    TemporarilyUnavailable,
    UnauthorizedClient,
)
from .hashing import secret_key
from .records import AuthorizationCode, IssuedFromCode, RefreshFamily, User
from .scopes import OFFLINE_ACCESS

USED_CODES = "used-codes"
USED_CODE_MEMORY = 600.0


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequest(f"{name} is required")
    return value


def _check_resource(form: dict[str, str], bound: str) -> None:
    """RFC 8707 §2.2: a ``resource`` at /token must be the one the grant was issued for."""
    resource = form.get("resource")
    if resource is not None and not same_resource(resource, bound):
        raise InvalidTarget(f"this grant is for {bound}, not {resource}")


async def _access_token(
    oauth: OAuthContext,
    client: RegisteredClient,
    resource: str,
    scopes: tuple[str, ...],
    user: User,
) -> tuple[str, str, float, dict[str, Any]]:
    host = oauth.host_for_resource(resource)
    if host is None:
        raise InvalidTarget(f"{resource} is no longer served here")
    token = mint_access_token(
        oauth.keys.ring,
        host,
        Identity(user.subject, user.email, user.groups),
        scopes=[scope for scope in scopes if scope != OFFLINE_ACCESS],
        client_id=client.client_id,
        now=oauth.clock(),
        lifetime=oauth.config.tokens.access_token_ttl,
    )
    # Every token a client gets, so an administrator can end it by client or by user.
    record = issued.IssuedRecord(
        client_id=client.client_id,
        client_name=client.metadata.client_name,
        subject=user.subject,
        email=user.email,
        groups=user.groups,
        expires_at=token.expires_at,
    )
    await issued.remember(oauth, token, record)
    audit("token_issued", claims=token.claims)
    return token.token, token.jti, token.expires_at, token.claims


def _response(token: str, claims: dict[str, Any], refresh: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": claims["exp"] - claims["iat"],
        "scope": claims["scope"],
    }
    if refresh is not None:
        body["refresh_token"] = refresh
    return body


async def authorization_code(
    oauth: OAuthContext, client: RegisteredClient, form: dict[str, str]
) -> dict[str, Any]:
    code = _required(form, "code")
    verifier = _required(form, "code_verifier")
    raw = await oauth.store.pop(CODES, secret_key(code))
    if raw is None:
        await _replayed(oauth, code)
        raise InvalidGrant("The authorization code is invalid, expired or already used")
    record = oauth.records.load(AuthorizationCode, raw)
    if record is None:
        raise InvalidGrant("The authorization code is invalid, expired or already used")
    request = record.request
    if request.client_id != client.client_id:
        raise InvalidGrant("The authorization code was issued to another client")
    if form.get("redirect_uri", request.redirect_uri) != request.redirect_uri:
        raise InvalidGrant("redirect_uri differs from the one of the authorization request")
    if not pkce.verify(verifier, request.code_challenge):
        raise InvalidGrant("PKCE verification failed (code_verifier does not match)")
    _check_resource(form, request.resource)
    token, jti, expires_at, claims = await _access_token(
        oauth, client, request.resource, request.scopes, record.user
    )
    refresh, family_id = None, None
    if client.may_refresh():
        family, refresh = await families.start_family(
            oauth,
            client.client_id,
            request.resource,
            request.scopes,
            record.user,
            jti=jti,
            expires_at=expires_at,
        )
        family_id = family.family_id
    used = IssuedFromCode(family_id=family_id, access_jti=jti, access_expires_at=expires_at)
    await oauth.store.put(USED_CODES, secret_key(code), oauth.records.dump(used), USED_CODE_MEMORY)
    return _response(token, claims, refresh)


async def _replayed(oauth: OAuthContext, code: str) -> None:
    """OAuth 2.1 §4.1.3: a code used twice revokes the tokens it produced."""
    raw = await oauth.store.pop(USED_CODES, secret_key(code))
    used = oauth.records.load(IssuedFromCode, raw)
    if used is None:
        return
    oauth.revocations.revoke(used.access_jti, used.access_expires_at)
    await oauth.revocations.publish()
    if used.family_id:
        family = await families.load(oauth, used.family_id)
        if family is not None:
            await families.revoke_family(oauth, family, "authorization code replayed")
    audit("replay_detected", kind="authorization_code", family=used.family_id)


async def refresh_token(
    oauth: OAuthContext, client: RegisteredClient, form: dict[str, str]
) -> dict[str, Any]:
    if not client.may_refresh():
        raise UnauthorizedClient("This client did not register the refresh_token grant")
    found = await families.find_family(oauth, _required(form, "refresh_token"))
    if found is None:
        raise InvalidGrant("The refresh token is invalid or expired")
    family, current = found
    if family.client_id != client.client_id:
        raise InvalidGrant("The refresh token was issued to another client")
    if family.revoked:
        raise InvalidGrant("This grant was revoked; sign in again")
    if not current:
        await families.revoke_family(oauth, family, "refresh token reused")
        audit("replay_detected", kind="refresh_token", family=family.family_id)
        raise InvalidGrant("The refresh token was already used; sign in again")
    oauth.refresh_limit.take(family.family_id)
    _check_resource(form, family.resource)
    scopes = family.scopes
    if "scope" in form:
        asked = tuple(form["scope"].split())
        if not set(asked) <= set(family.scopes):
            raise InvalidScope("A refresh may only narrow the granted scopes")
        scopes = tuple(scope for scope in family.scopes if scope in asked)
    await _recheck(oauth, family)
    token, jti, expires_at, claims = await _access_token(
        oauth, client, family.resource, scopes, family.user
    )
    try:
        refresh = await families.rotate(oauth, family, jti, expires_at)
    except families.LostRace:
        # Another request redeemed this refresh token a moment ago (another replica, a retry):
        # exactly one wins. Not treated as theft: the winner's tokens stay valid, and a later
        # reuse of this token is caught as a replay like any other.
        audit("refresh_race_lost", client_id=client.client_id, family=family.family_id)
        raise InvalidGrant("The refresh token was used by a concurrent request") from None
    audit("token_refreshed", client_id=client.client_id, sub=family.user.subject)
    return _response(token, claims, refresh)


async def _recheck(oauth: OAuthContext, family: RefreshFamily) -> None:
    """Offboarded users lose access: ask the identity provider again every recheckInterval."""
    now = oauth.clock()
    if now >= family.created_at + oauth.config.tokens.max_session_age.total_seconds():
        await families.revoke_family(oauth, family, "maximum session age reached")
        raise InvalidGrant("The session reached its maximum age; sign in again")
    if now - family.checked_at < oauth.config.tokens.recheck_interval.total_seconds():
        return
    try:
        identity = await oauth.provider.recheck(family.user.to_upstream())
    except LoginDenied as exc:
        await families.revoke_family(oauth, family, f"re-check refused: {exc.reason}")
        raise InvalidGrant(f"Access was withdrawn: {exc.reason}") from None
    except ProviderError:
        # A short outage of the identity provider must not log everybody out; a long one (or
        # an upstream that answers nonsense for good) must not let a login run unchecked until
        # maxSessionAge. 503 rather than invalid_grant: the client keeps its refresh token and
        # retries, and the family is still there when the provider comes back.
        unchecked = now - family.checked_at
        audit("recheck_failed", family=family.family_id, sub=family.user.subject)
        if unchecked > oauth.config.tokens.recheck_outage_grace.total_seconds():
            raise TemporarilyUnavailable(
                "The identity provider has not confirmed this user for too long and cannot be "
                "reached now; try again later"
            ) from None
        return
    reason = oauth.refusal_for(identity, family.resource)
    if reason is not None:
        await families.revoke_family(oauth, family, f"policy: {reason}")
        raise InvalidGrant(f"Access was withdrawn: {reason}")
    family.user = User.from_upstream(identity)
    family.checked_at = now
