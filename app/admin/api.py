"""The admin API: list and remove clients, list signed-in users and end their grants.

Off unless ``server.adminToken`` is set; answers only connections from loopback (an operator
runs ``mcp-gatekeeper admin`` in the pod) carrying that token, and is never among the paths a
gateway routes here. With the in-memory store the state lives in the serving process, so the
CLI has to ask it over HTTP.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request

from ..config.model import is_loopback
from ..errors import GatekeeperError, NotFound
from ..oauth import families
from ..oauth.consent import APPROVALS, Approval
from ..oauth.context import OAuthContext, OAuthDep
from ..ops.audit import audit

ADMIN_PREFIX = "/admin"
router = APIRouter(prefix=ADMIN_PREFIX)


class AdminForbidden(GatekeeperError):
    status = 403
    error = "forbidden"


def _authorize(request: Request, oauth: OAuthContext) -> None:
    token = oauth.config.server.admin_token
    if token is None:
        raise NotFound("The admin API is off (set server.adminToken)")
    peer = request.client.host if request.client else ""
    presented = request.headers.get("authorization", "").removeprefix("Bearer ")
    if not is_loopback(peer) or not hmac.compare_digest(
        presented.encode(), token.get_secret_value().encode()
    ):
        raise AdminForbidden("Admin requests need the admin token, from loopback")


@router.get("/clients")
async def list_clients(request: Request, oauth: OAuthDep) -> list[dict[str, Any]]:
    _authorize(request, oauth)
    active: dict[str, int] = {}
    for family in await families.load_all(oauth):
        if not family.revoked:
            active[family.client_id] = active.get(family.client_id, 0) + 1
    clients = []
    for client in await oauth.clients.registered():
        clients.append(
            {
                "client_id": client.client_id,
                "client_name": client.metadata.client_name,
                "redirect_uris": client.metadata.redirect_uris,
                "auth_method": client.auth_method,
                "registered_at": client.client_id_issued_at,
                "active_grants": active.get(client.client_id, 0),
            }
        )
    return sorted(clients, key=lambda client: client["registered_at"])


@router.delete("/clients/{client_id}")
async def remove_client(client_id: str, request: Request, oauth: OAuthDep) -> dict[str, Any]:
    _authorize(request, oauth)
    if not await oauth.clients.delete(client_id):
        raise NotFound(f"No registered client {client_id!r}")
    ended = await families.revoke_where(
        oauth,
        lambda family: family.client_id == client_id,
        "client removed by an administrator",
    )
    audit("client_removed", client_id=client_id, grants_ended=ended)
    return {"client_id": client_id, "grants_ended": ended}


@router.get("/users")
async def list_users(request: Request, oauth: OAuthDep) -> list[dict[str, Any]]:
    """Who holds a live grant, through which clients, and when the IdP last vouched for them:
    what to check after offboarding someone."""
    _authorize(request, oauth)
    users: dict[str, dict[str, Any]] = {}
    for family in await families.load_all(oauth):
        if family.revoked:
            continue
        user = users.setdefault(
            family.user.subject,
            {
                "subject": family.user.subject,
                "email": family.user.email,
                "groups": list(family.user.groups),
                "grants": [],
            },
        )
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
async def revoke_user(user: str, request: Request, oauth: OAuthDep) -> dict[str, Any]:
    """``user`` is the subject or the email address."""
    _authorize(request, oauth)
    ended = await families.revoke_where(
        oauth,
        lambda family: user in (family.user.subject, family.user.email),
        "user revoked by an administrator",
    )
    forgotten = 0
    for key, raw in await oauth.store.items(APPROVALS):
        approval = oauth.records.load(Approval, raw)
        if approval is not None and user in (approval.subject, approval.email):
            await oauth.store.delete(APPROVALS, key)
            forgotten += 1
    audit("user_revoked", user=user, grants_ended=ended, approvals_forgotten=forgotten)
    return {"user": user, "grants_ended": ended, "approvals_forgotten": forgotten}
