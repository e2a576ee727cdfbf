"""The device_code grant (RFC 8628 §3.4, §3.5): the device polls until the user answered.

Each poll is checked against the grant's interval, in the store (one state for every replica):
too soon is ``slow_down`` and adds 5 s to the interval, a pending grant is
``authorization_pending`` and records the poll. A poll only ever rewrites the one record, so a
flood of polls grows nothing. An answered grant is taken from the store at once: exactly one
poll, on whichever replica, gets the token (or ``access_denied``).
"""

from __future__ import annotations

from typing import Any

from ...services import Services
from .. import device_grants, families
from ..clients.models import RegisteredClient
from ..errors import (
    AuthorizationPending,
    DeviceAccessDenied,
    ExpiredToken,
    InvalidGrant,
    PollTooFast,
)
from ..hashing import secret_key
from ..records import DeviceGrant, User
from ..token_requests import DeviceCodeGrant, TokenCall
from .common import access_token, check_resource, refresh_binding, token_response

#: RFC 8628 §3.5: what each ``slow_down`` adds to the interval.
SLOW_DOWN_STEP = 5.0
GONE = "The device code is invalid or was already used"


async def device_code(
    services: Services, call: TokenCall, client: RegisteredClient, grant: DeviceCodeGrant
) -> dict[str, Any]:
    code_hash = secret_key(grant.device_code)
    found = await services.records.device_grants.get_stored(code_hash)
    if found is None:
        raise InvalidGrant(GONE)
    record, stored = found
    if record.client_id != client.client_id:
        raise InvalidGrant("The device code was issued to another client")
    if record.issuer != call.issuer:
        # One tenant's /token never mints for another's host, whatever code it is shown.
        raise InvalidGrant(f"The device code was issued by {record.issuer}, not {call.issuer}")
    now = services.clock()
    if now >= record.expires_at:
        raise ExpiredToken("The device code expired before it was approved; start again")
    check_resource(grant.resource, record.resource)
    if record.status == "pending":
        await _poll(services, code_hash, record, stored, now)
    taken = await services.records.device_grants.take(code_hash)
    if taken is None or taken.status == "pending":
        # Another poll took it first (or a late write put it back as pending: never issued).
        raise InvalidGrant(GONE)
    if taken.status == "denied" or taken.user is None:
        raise DeviceAccessDenied("The user denied the request")
    return await _issue(services, call, client, taken, taken.user)


async def _poll(
    services: Services, code_hash: str, record: DeviceGrant, stored: bytes, now: float
) -> None:
    """Record this poll of a pending grant; always raises (slow_down or pending)."""
    too_soon = record.last_poll is not None and now < record.last_poll + record.interval
    interval = record.interval + SLOW_DOWN_STEP if too_soon else record.interval
    polled = record.model_copy(update={"last_poll": now, "interval": interval})
    try:
        await device_grants.swap(services, code_hash, polled, stored)
    except device_grants.LostRace:
        # Another poll (or the user's answer) wrote in between: two polls at once are too fast.
        raise PollTooFast(f"Poll at most every {int(record.interval)} s") from None
    if too_soon:
        raise PollTooFast(f"Polled too soon: poll at most every {int(interval)} s from now on")
    raise AuthorizationPending("The user has not approved the request yet")


async def _issue(
    services: Services, call: TokenCall, client: RegisteredClient, record: DeviceGrant, user: User
) -> dict[str, Any]:
    token = await access_token(services, call, client, record.resource, record.scopes, user)
    refresh = None
    if client.may_refresh():
        _family, refresh = await families.start_family(
            services,
            client.client_id,
            record.resource,
            record.scopes,
            user,
            jti=token.jti,
            expires_at=token.expires_at,
            dpop_jkt=refresh_binding(client, token),
        )
    return token_response(token, refresh)
