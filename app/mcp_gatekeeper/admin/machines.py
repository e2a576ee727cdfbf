"""Machine clients through the admin API: made here, listed with the others, removed with their
tokens (``api.py`` wires the routes).

A client made here passes the same checks as one in the configuration file
(``config.grants.MachineClientConfig``: public keys only, an https key URL, scope tokens), and
names configured hosts only. Its secret is generated here, answered once and kept as a hash.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config.grants import MachineClientConfig
from ..errors import GatekeeperError
from ..oauth.clients.machines import MachineClient, new_id, new_secret
from ..ops.audit import audit
from ..services import Services

#: The configuration's names for the fields, as the admin API names them.
_FIELD_NAMES = {"jwksURI": "jwks_uri", "clientID": "client_id"}


class AdminRequestInvalid(GatekeeperError):
    error = "invalid_request"


class AdminConflict(GatekeeperError):
    status = 409
    error = "conflict"


class NewMachineClient(BaseModel):
    """``POST /admin/clients``: a machine client for client credentials."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    hosts: list[str] = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=list, max_length=100)
    #: ``private_key_jwt`` keys, by URL or inline; neither: a secret is generated.
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = None


def _problem(exc: ValidationError) -> AdminRequestInvalid:
    first = exc.errors()[0]
    where = ".".join(_FIELD_NAMES.get(str(part), str(part)) for part in first["loc"]) or "body"
    return AdminRequestInvalid(f"{where}: {first['msg']}")


async def create(services: Services, raw: object) -> dict[str, Any]:
    """Validate and keep a new machine client; the answer holds its secret, the only time."""
    try:
        asked = NewMachineClient.model_validate(raw)
    except ValidationError as exc:
        raise _problem(exc) from None
    configured = {host.host for host in services.hosts.hosts}
    unknown = [host for host in asked.hosts if host not in configured]
    if unknown:
        raise AdminRequestInvalid(
            f"hosts: not a configured proxy.hosts[].host: {', '.join(unknown)}"
        )
    if asked.jwks_uri is not None and asked.jwks is not None:
        raise AdminRequestInvalid("give jwks_uri or jwks, not both")
    keys = asked.jwks_uri is not None or asked.jwks is not None
    secret = None if keys else new_secret()
    try:
        entry = MachineClientConfig.model_validate(
            {
                "clientID": new_id(),
                "name": asked.name,
                "secret": secret,
                "jwksURI": asked.jwks_uri,
                "jwks": asked.jwks,
                "hosts": asked.hosts,
                "scopes": asked.scopes,
            }
        )
    except ValidationError as exc:
        raise _problem(exc) from None
    machine = await services.machines.create(entry)
    client = machine.client
    audit(
        "client_created",
        client_id=client.client_id,
        client_name=client.metadata.client_name,
        auth_method=client.auth_method,
        hosts=list(machine.binding.hosts),
        scopes=list(machine.binding.scopes),
    )
    answer = describe(machine) | {
        "client_credentials_enabled": services.config.grants.client_credentials.enabled
    }
    if secret is not None:
        answer["client_secret"] = secret
    return answer


def describe(machine: MachineClient, live_tokens: int = 0) -> dict[str, Any]:
    """A machine client as ``admin clients list`` shows it (never its secret or its hash)."""
    client = machine.client
    return {
        "client_id": client.client_id,
        "client_name": client.metadata.client_name,
        "kind": "machine",
        "source": "config" if machine.from_config else "admin",
        "metadata_document": False,
        "redirect_uris": None,
        "auth_method": client.auth_method,
        "jwks_uri": machine.jwks_uri,
        "hosts": list(machine.binding.hosts),
        "scopes": list(machine.binding.scopes),
        "registered_at": None if machine.from_config else client.client_id_issued_at,
        "active_grants": 0,
        "live_tokens": live_tokens,
        "revoked_at": None,
    }


def configured_refusal(client_id: str) -> AdminConflict:
    return AdminConflict(
        f"{client_id!r} is defined in the configuration file (grants.clientCredentials.clients) "
        "and cannot be deleted through the admin API: remove it there and restart the service. "
        f"To end its live tokens now, run `mcp-gatekeeper admin users revoke {client_id}` "
        "(a machine token's subject is its client id)."
    )
