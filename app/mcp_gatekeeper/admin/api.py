"""The admin API: list, revoke and allow clients, make machine clients, list signed-in users
and end their grants.

Revoking ends refresh-token families and puts every live access token of the client or user on
the revocation list (``oauth/issued.py``), which every process enforces within
``store.pollInterval`` + ``store.timeout``.

Off unless ``server.adminToken`` is set; answers only connections from loopback (an operator
runs ``mcp-gatekeeper admin`` in the pod) carrying that token, and is never among the paths a
gateway routes here. With the in-memory store the state lives in the serving process, so the
CLI has to ask it over HTTP.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from .. import bounded_json
from ..errors import GatekeeperError, NotFound
from ..http_body import BodyTooLarge, read_body
from ..net import is_loopback_hostname
from ..oauth import connected_accounts, families, issued
from ..oauth.clients.machines import ConfiguredClient
from ..oauth.clients.registry import is_metadata_document_id
from ..oauth.record_stores import RecordStore
from ..oauth.records import (
    AuthorizationCode,
    AuthorizationRequest,
    ConnectTransaction,
    PendingConsent,
    User,
)
from ..ops.audit import audit
from ..services import Services, ServicesDep
from . import inventory, machines

ADMIN_PREFIX = "/admin"
MAX_BODY_BYTES = 65_536
router = APIRouter(prefix=ADMIN_PREFIX)


class AdminForbidden(GatekeeperError):
    status = 403
    error = "forbidden"


def _authorize(request: Request, services: Services) -> None:
    token = services.config.server.admin_token
    if token is None:
        raise NotFound("The admin API is off (set server.adminToken)")
    peer = request.client.host if request.client else ""
    presented = request.headers.get("authorization", "").removeprefix("Bearer ")
    if not is_loopback_hostname(peer) or not hmac.compare_digest(
        presented.encode(), token.get_secret_value().encode()
    ):
        raise AdminForbidden("Admin requests need the admin token, from loopback")


@router.get("/clients")
async def list_clients(request: Request, services: ServicesDep) -> list[dict[str, Any]]:
    _authorize(request, services)
    return await inventory.clients(services)


@router.post("/clients", status_code=201)
async def create_client(request: Request, services: ServicesDep) -> dict[str, Any]:
    """A machine client for client credentials, bound to hosts and scopes."""
    _authorize(request, services)
    try:
        raw = bounded_json.loads(await read_body(request, MAX_BODY_BYTES))
    except (BodyTooLarge, ValueError) as exc:  # UnboundedJson and UnicodeDecodeError included
        raise machines.AdminRequestInvalid(f"The body must be a JSON object: {exc}") from None
    return await machines.create(services, raw)


# ``:path``: a metadata-document client's id is an https URL, slashes included.
@router.delete("/clients/{client_id:path}")
async def remove_client(client_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    """A registered client, or a machine client made through this API, is deleted; a
    metadata-document client (anyone may serve its document again) is refused from now on, until
    ``allow``. Each loses every grant and token. A configured machine client is refused (409)."""
    _authorize(request, services)
    document = is_metadata_document_id(client_id)
    if document:
        await services.clients.deny(client_id)
        deleted = True
    else:
        try:
            deleted = await services.machines.delete(client_id)
        except ConfiguredClient:
            raise machines.configured_refusal(client_id) from None
        deleted = deleted or await services.clients.delete(client_id)
    # Even when the client is gone already: a revoke cut short (store timeout) is finished by
    # running it again, instead of answering 404 with tokens still live.
    revoked = await issued.revoke_where(services, lambda token: token.client_id == client_id)
    ended = await families.revoke_where(
        services,
        lambda family: family.client_id == client_id,
        "client removed by an administrator",
    )
    pending = await _forget_pending(services, lambda req, _user: req.client_id == client_id)
    if not (deleted or revoked or ended or pending):
        raise NotFound(f"No registered client {client_id!r}")
    audit("client_removed", client_id=client_id, grants_ended=ended, tokens_revoked=revoked)
    return {
        "client_id": client_id,
        "grants_ended": ended,
        "tokens_revoked": revoked,
        "refused_until_allowed": document,
    }


@router.post("/clients/{client_id:path}/allow")
async def allow_client(client_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    """Lift the refusal of a revoked metadata-document client: it may sign users in again."""
    _authorize(request, services)
    if not await services.clients.allow(client_id):
        raise NotFound(f"{client_id!r} is not a revoked client")
    audit("client_allowed", client_id=client_id)
    return {"client_id": client_id, "allowed": True}


@router.get("/users")
async def list_users(request: Request, services: ServicesDep) -> list[dict[str, Any]]:
    """Who holds a live grant, through which clients, and when the IdP last vouched for them:
    what to check after offboarding someone."""
    _authorize(request, services)
    users: dict[str, dict[str, Any]] = {}

    def entry(subject: str, email: str, groups: tuple[str, ...]) -> dict[str, Any]:
        fresh = {"subject": subject, "email": email, "groups": list(groups), "grants": []}
        return users.setdefault(subject, fresh | {"live_tokens": 0})

    # Access tokens count too: a client without refresh tokens holds no grant, only tokens.
    for jti, token in await issued.live(services):
        if jti not in services.revocations:
            entry(token.subject, token.email, token.groups)["live_tokens"] += 1
    for family in await families.load_all(services):
        if family.revoked:
            continue
        user = entry(family.user.subject, family.user.email, family.user.groups)
        user["grants"].append(
            {
                "client_id": family.client_id,
                "resource": family.resource,
                "scopes": list(family.scopes),
                "signed_in_at": family.created_at,
                "checked_at": family.checked_at,
            }
        )
    for user in users.values():
        user["grants"].sort(key=lambda grant: grant["signed_in_at"])
    return sorted(users.values(), key=lambda user: user["email"])


@router.post("/users/{user}/revoke")
async def revoke_user(user: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    """``user`` is the subject or the email address."""
    _authorize(request, services)
    # Every subject ``user`` names (an email may name several): their provider secrets and
    # cached upstream credentials are keyed by subject alone.
    subjects = {user}

    def picks(subject: str, email: str) -> bool:
        if user in (subject, email):
            subjects.add(subject)
            return True
        return False

    revoked = await issued.revoke_where(services, lambda token: picks(token.subject, token.email))
    ended = await families.revoke_where(
        services,
        lambda family: picks(family.user.subject, family.user.email),
        "user revoked by an administrator",
    )
    # A login half done (consent page open, account connection under way, code not yet
    # redeemed) must not finish either.
    await _forget_pending(services, lambda _req, who: picks(who.subject, who.email))
    forgotten = 0
    approvals = services.records.approvals
    for key, approval, _raw in await approvals.scan():
        if picks(approval.subject, approval.email):
            await approvals.forget_stored(key)
            forgotten += 1
    # Their accounts at upstream APIs (proxy.hosts[].upstream.connected) are disconnected too.
    cache = getattr(request.app.state, "upstream_credentials", None)
    forget_cached = cache.forget_subject if cache is not None else lambda _subject: None
    disconnected = await connected_accounts.disconnect_everywhere(services, user, forget_cached)
    # And the identity provider's secret kept for upstream credentials (login, tokenExchange).
    for subject in subjects:
        await services.records.provider_grants.forget(subject)
        forget_cached(subject)
    audit(
        "user_revoked",
        user=user,
        grants_ended=ended,
        tokens_revoked=revoked,
        approvals_forgotten=forgotten,
        accounts_disconnected=disconnected,
    )
    return {
        "user": user,
        "grants_ended": ended,
        "tokens_revoked": revoked,
        "approvals_forgotten": forgotten,
        "accounts_disconnected": disconnected,
    }


async def _forget_pending(
    services: Services, matches: Callable[[AuthorizationRequest, User], bool]
) -> int:
    """Drop consent pages, account connections under way and unredeemed codes of logins
    ``matches`` picks; how many."""
    dropped = 0
    kinds: tuple[
        RecordStore[PendingConsent]
        | RecordStore[ConnectTransaction]
        | RecordStore[AuthorizationCode],
        ...,
    ] = (services.records.consents, services.records.connects, services.records.codes)
    for kind in kinds:
        for key, record, _raw in await kind.scan():
            if matches(record.request, record.user):
                await kind.forget_stored(key)
                dropped += 1
    return dropped
