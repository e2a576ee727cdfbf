"""The state of RFC 8628 device authorizations, in the store so every replica sees one state.

A device grant is named by the SHA-256 of its device code (256 random bits), its user code by
the SHA-256 of the code: a store dump hands out neither. Every change is a compare-and-swap
against the record as it was read, so a poll, a second browser and the user's answer never
overwrite each other; the token is handed out by the store's atomic take (``grants/
device_code.py``). A grant is kept ``EXPIRED_MEMORY`` seconds past its expiry, so that a late
poll learns ``expired_token`` rather than ``invalid_grant``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ..services import Services
from .errors import TemporarilyUnavailable
from .hashing import secret_key
from .records import DeviceGrant, User, UserCode
from .user_codes import new_user_code

EXPIRED_MEMORY = 600.0
#: How often the verification page may accept one user code (each acceptance starts a login;
#: a user may cancel at the identity provider and try again, a stranger may not keep trying).
MAX_ENTRIES = 3
#: Swaps lost to concurrent writers before giving up (each loss is another writer's progress).
MAX_SWAP_ATTEMPTS = 16
#: Codes drawn before giving up on a free one (a collision among 2.6e10 codes is rare).
MAX_DRAWS = 8


class LostRace(Exception):
    """Another writer changed the grant between its read and this write."""


@dataclass(frozen=True)
class StartedGrant:
    device_code: str
    user_code: str
    grant: DeviceGrant


@dataclass(frozen=True)
class FoundGrant:
    code_hash: str
    grant: DeviceGrant


def _ttl(services: Services, grant: DeviceGrant) -> float:
    return max(grant.expires_at + EXPIRED_MEMORY - services.clock(), 1.0)


async def start(
    services: Services, client_id: str, issuer: str, resource: str, scopes: tuple[str, ...]
) -> StartedGrant:
    """A new device code and user code for ``client_id``, pending until the user answers."""
    settings = services.config.grants.device_code
    device_code = secrets.token_urlsafe(32)
    code_hash = secret_key(device_code)
    expires_at = services.clock() + settings.code_ttl.total_seconds()
    ttl = settings.code_ttl.total_seconds()
    for _draw in range(MAX_DRAWS):
        user_code = new_user_code()
        # Put-if-absent: two live grants never share a user code.
        if await services.records.user_codes.add(
            user_code, services.records.user_codes.dump(UserCode(device_code_hash=code_hash)), ttl
        ):
            break
    else:
        raise TemporarilyUnavailable("No free user code could be drawn; try again")
    grant = DeviceGrant(
        client_id=client_id,
        issuer=issuer,
        resource=resource,
        scopes=scopes,
        user_code_hash=secret_key(user_code),
        expires_at=expires_at,
        interval=settings.interval.total_seconds(),
    )
    await services.records.device_grants.put(code_hash, grant, _ttl(services, grant))
    return StartedGrant(device_code, user_code, grant)


async def find(services: Services, user_code: str) -> FoundGrant | None:
    """The live, unanswered grant a (normalised) user code names."""
    pointer = await services.records.user_codes.get(user_code)
    if pointer is None:
        return None
    grant = await services.records.device_grants.get(pointer.device_code_hash)
    if grant is None or grant.status != "pending" or grant.expires_at <= services.clock():
        return None
    return FoundGrant(pointer.device_code_hash, grant)


async def swap(
    services: Services, code_hash: str, grant: DeviceGrant, expected: bytes
) -> DeviceGrant:
    """Write ``grant`` if the stored record is still ``expected``; ``LostRace`` otherwise."""
    store = services.records.device_grants
    if not await store.replace_if(code_hash, expected, store.dump(grant), _ttl(services, grant)):
        raise LostRace
    return grant


async def update(
    services: Services, code_hash: str, change: Callable[[DeviceGrant], DeviceGrant | None]
) -> DeviceGrant | None:
    """Apply ``change`` to the stored grant until the swap lands; ``None`` when there is no
    grant or ``change`` declines (returns ``None``)."""
    for _attempt in range(MAX_SWAP_ATTEMPTS):
        found = await services.records.device_grants.get_stored(code_hash)
        changed = None if found is None else change(found[0])
        if found is None or changed is None:
            return None
        try:
            return await swap(services, code_hash, changed, found[1])
        except LostRace:
            continue
    return None


async def count_entry(services: Services, code_hash: str) -> bool:
    """Count one acceptance of the grant's user code; ``False`` beyond ``MAX_ENTRIES``."""

    def entered(grant: DeviceGrant) -> DeviceGrant | None:
        if grant.status != "pending" or grant.entries >= MAX_ENTRIES:
            return None
        return grant.model_copy(update={"entries": grant.entries + 1})

    return await update(services, code_hash, entered) is not None


async def decide(
    services: Services, code_hash: str, user: User, scopes: tuple[str, ...] | None
) -> bool:
    """The user's answer: approved with ``scopes``, or denied (``None``). ``False`` when the
    grant expired or was answered already. The user code is used up either way."""
    now = services.clock()

    def answered(grant: DeviceGrant) -> DeviceGrant | None:
        if grant.status != "pending" or grant.expires_at <= now:
            return None
        if scopes is None:
            return grant.model_copy(update={"status": "denied"})
        return grant.model_copy(update={"status": "approved", "user": user, "scopes": scopes})

    decided = await update(services, code_hash, answered)
    if decided is not None:
        await services.records.user_codes.forget_stored(decided.user_code_hash)
    return decided is not None
