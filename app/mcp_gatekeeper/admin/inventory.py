"""Which clients hold what: registered clients, machine clients (configured or made through the
admin API), and the metadata-document clients the service knows only from what it issued to them
(or from an administrator refusing them)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..oauth import families, issued
from ..oauth.clients.registry import is_metadata_document_id
from ..services import Services
from .machines import describe


async def clients(services: Services) -> list[dict[str, Any]]:
    """Registered clients first, oldest first; then machine clients (configured ones first);
    then metadata-document clients by URL."""
    grants = Counter(
        family.client_id for family in await families.load_all(services) if not family.revoked
    )
    tokens: Counter[str] = Counter()
    names: dict[str, str | None] = {}
    for jti, record in await issued.live(services):
        if jti not in services.revocations:
            tokens[record.client_id] += 1
        names[record.client_id] = names.get(record.client_id) or record.client_name
    listed: list[dict[str, Any]] = [
        {
            "client_id": client.client_id,
            "client_name": client.metadata.client_name,
            "kind": "registered",
            "metadata_document": False,
            "redirect_uris": client.metadata.redirect_uris,
            "auth_method": client.auth_method,
            "registered_at": client.client_id_issued_at,
            "active_grants": grants[client.client_id],
            "live_tokens": tokens[client.client_id],
            "revoked_at": None,
        }
        for client in sorted(
            await services.clients.registered(), key=lambda client: client.client_id_issued_at
        )
    ]
    machines = services.machines.configured() + sorted(
        await services.machines.stored(), key=lambda machine: machine.client.client_id_issued_at
    )
    listed += [describe(machine, tokens[machine.client.client_id]) for machine in machines]
    denied = await services.clients.denied()
    documents = {*grants, *tokens, *denied}
    for client_id in sorted(filter(is_metadata_document_id, documents)):
        listed.append(
            {
                "client_id": client_id,
                "client_name": names.get(client_id),
                "kind": "metadata_document",
                "metadata_document": True,
                "redirect_uris": None,
                "auth_method": None,
                "registered_at": None,
                "active_grants": grants[client_id],
                "live_tokens": tokens[client_id],
                # Refused at /authorize and /token until `admin clients allow`.
                "revoked_at": denied.get(client_id),
            }
        )
    return listed
