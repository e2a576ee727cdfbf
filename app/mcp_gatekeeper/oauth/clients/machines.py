"""Machine clients: confidential clients an operator made for client credentials (RFC 6749 §4.4).

Two sources, one shape: the configuration file (``grants.clientCredentials.clients``, for
GitOps) and the admin API (``mcp-gatekeeper admin clients create``, kept in the store). Each is
bound to the MCP hosts and scopes it may get tokens for, and authenticates one way only: a secret
(HTTP Basic, kept as its SHA-256 here and in the store) or ``private_key_jwt`` (RFC 7523 §2.2)
with its public keys, by URL or inline. They never take part in a browser login: they have no
redirect URI and are found at the back channel (``client_auth.py``), not at ``/authorize``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ...config.grants import ClientCredentialsConfig, MachineClientConfig
from ..assertions import KeySet
from ..hashing import secret_key
from ..record_stores import RecordStore
from ..records import MachineClientRecord
from .models import ClientMetadata, MachineBinding, RegisteredClient

SECRET_BASIC = "client_secret_basic"  # noqa: S105 (a method name)
PRIVATE_KEY_JWT = "private_key_jwt"
#: The store wants a lifetime: until an administrator revokes it (ten years).
KEPT_FOR = 10 * 365 * 86400.0
#: Recognisable in logs and listings; the rest is random.
ID_PREFIX = "mc-"


class ConfiguredClient(Exception):
    """The client comes from the configuration file: only a change there removes it."""


@dataclass(frozen=True)
class MachineClient:
    """A machine client as authentication and the grants see it."""

    client: RegisteredClient
    secret_hash: str | None
    jwks_uri: str | None
    jwks: dict[str, Any] | None
    from_config: bool

    @property
    def binding(self) -> MachineBinding:
        assert self.client.machine is not None
        return self.client.machine

    def secret_matches(self, secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(secret_key(secret), self.secret_hash)


def _client(
    client_id: str,
    name: str | None,
    method: str,
    hosts: tuple[str, ...],
    scopes: tuple[str, ...],
    issued_at: float,
) -> RegisteredClient:
    metadata = ClientMetadata(
        token_endpoint_auth_method=method,
        grant_types=["client_credentials"],
        response_types=[],
        client_name=name,
    )
    return RegisteredClient(
        client_id=client_id,
        client_id_issued_at=int(issued_at),
        metadata=metadata,
        machine=MachineBinding(hosts=hosts, scopes=scopes),
    )


def _from_config(entry: MachineClientConfig) -> MachineClient:
    secret = entry.secret.get_secret_value() if entry.secret is not None else None
    method = SECRET_BASIC if secret is not None else PRIVATE_KEY_JWT
    client = _client(
        entry.client_id, entry.name, method, tuple(entry.hosts), tuple(entry.scopes), 0.0
    )
    return MachineClient(
        client=client,
        secret_hash=secret_key(secret) if secret is not None else None,
        jwks_uri=entry.jwks_uri,
        jwks=entry.jwks,
        from_config=True,
    )


def _from_record(record: MachineClientRecord) -> MachineClient:
    method = SECRET_BASIC if record.secret_hash is not None else PRIVATE_KEY_JWT
    client = _client(
        record.client_id, record.name, method, record.hosts, record.scopes, record.created_at
    )
    return MachineClient(
        client=client,
        secret_hash=record.secret_hash,
        jwks_uri=record.jwks_uri,
        jwks=record.jwks,
        from_config=False,
    )


class MachineClients:
    """Every machine client: the configured ones first (an id there cannot be shadowed)."""

    def __init__(
        self,
        config: ClientCredentialsConfig,
        records: RecordStore[MachineClientRecord],
        http: httpx.AsyncClient,
        clock: Callable[[], float],
    ) -> None:
        self._configured = {entry.client_id: _from_config(entry) for entry in config.clients}
        self._records = records
        self._http = http
        self._clock = clock
        #: One per inline key set (by client) and one per jwks_uri, shared by its clients: a
        #: fetched set is reused until it goes stale (``assertions.KeySet``).
        self._key_sets: dict[str, KeySet] = {}

    def configured(self) -> list[MachineClient]:
        return list(self._configured.values())

    def is_configured(self, client_id: str) -> bool:
        return client_id in self._configured

    async def get(self, client_id: str) -> MachineClient | None:
        found = self._configured.get(client_id)
        if found is not None or not client_id.startswith(ID_PREFIX) or len(client_id) > 200:
            return found
        record = await self._records.get(client_id)
        return None if record is None else _from_record(record)

    async def stored(self) -> list[MachineClient]:
        """Every client made through the admin API (administration: a scan)."""
        return [_from_record(record) for _key, record, _raw in await self._records.scan()]

    async def create(self, entry: MachineClientConfig) -> MachineClient:
        """Keep a validated client (``entry.client_id`` from ``new_id``); only the secret's
        hash is stored, so the caller shows the secret once."""
        secret = entry.secret.get_secret_value() if entry.secret is not None else None
        record = MachineClientRecord(
            client_id=entry.client_id,
            name=entry.name,
            secret_hash=secret_key(secret) if secret is not None else None,
            jwks_uri=entry.jwks_uri,
            jwks=entry.jwks,
            hosts=tuple(entry.hosts),
            scopes=tuple(entry.scopes),
            created_at=self._clock(),
        )
        await self._records.put(record.client_id, record, KEPT_FOR)
        return _from_record(record)

    async def delete(self, client_id: str) -> bool:
        """Forget a client made through the admin API; ``ConfiguredClient`` for one from the
        configuration file."""
        if client_id in self._configured:
            raise ConfiguredClient(client_id)
        self._key_sets.pop(f"client:{client_id}", None)
        return await self._records.take(client_id) is not None

    def key_set(self, machine: MachineClient) -> KeySet:
        """The public keys of a ``private_key_jwt`` client."""
        if machine.jwks_uri is not None:
            name = f"uri:{machine.jwks_uri}"
            if name not in self._key_sets:
                self._key_sets[name] = KeySet(self._http, jwks_uri=machine.jwks_uri)
            return self._key_sets[name]
        name = f"client:{machine.client.client_id}"
        if name not in self._key_sets:
            self._key_sets[name] = KeySet(self._http, jwks=machine.jwks)
        return self._key_sets[name]


def new_id() -> str:
    return ID_PREFIX + secrets.token_urlsafe(18)


def new_secret() -> str:
    return secrets.token_urlsafe(32)
