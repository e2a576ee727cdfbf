"""Every kind of record the authorization server keeps: its namespace, its model, its key.

One table (``OAuthRecords``) instead of namespace strings spread over the flows. A kind named by a
secret (a login's ``state``, a code, a consent id) is stored under the secret's SHA-256, so a
store dump hands out nothing that can be replayed; the others are named by an id that is not a
secret. Records are written and read through ``RecordCodec``, which seals their upstream secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from ..store import Store
from .hashing import secret_key
from .records import (
    Approval,
    AuthorizationCode,
    ConnectedAccount,
    ConnectTransaction,
    DelegatedTokens,
    DeviceGrant,
    GuessBucket,
    IssuedFromCode,
    IssuedRecord,
    LoginTransaction,
    MachineClientRecord,
    PendingConsent,
    PendingDeviceGrants,
    ProviderGrant,
    RefreshFamily,
    UsedDpopProof,
    UserCode,
)
from .sealed import RecordCodec

Record = TypeVar("Record", bound=BaseModel)


class RecordStore(Generic[Record]):
    """One kind of record in the store."""

    def __init__(
        self,
        store: Store,
        codec: RecordCodec,
        namespace: str,
        model: type[Record],
        *,
        secret_named: bool,
    ) -> None:
        self._store = store
        self._codec = codec
        self.namespace = namespace
        self._model = model
        self._secret_named = secret_named

    def key(self, name: str) -> str:
        return secret_key(name) if self._secret_named else name

    def dump(self, record: Record) -> bytes:
        return self._codec.dump(record)

    def load(self, raw: bytes | None) -> Record | None:
        return self._codec.load(self._model, raw)

    async def put(self, name: str, record: Record, ttl: float) -> None:
        await self._store.put(self.namespace, self.key(name), self.dump(record), ttl)

    async def get(self, name: str) -> Record | None:
        return self.load(await self._store.get(self.namespace, self.key(name)))

    async def get_stored(self, name: str) -> tuple[Record, bytes] | None:
        """The record and the exact bytes it was read from (what a compare-and-swap expects)."""
        raw = await self._store.get(self.namespace, self.key(name))
        record = self.load(raw)
        return None if record is None or raw is None else (record, raw)

    async def take(self, name: str) -> Record | None:
        """Read and remove at once: single use holds across processes."""
        return self.load(await self._store.pop(self.namespace, self.key(name)))

    async def forget(self, name: str) -> None:
        await self._store.delete(self.namespace, self.key(name))

    async def add(self, name: str, value: bytes, ttl: float) -> bool:
        return await self._store.add(self.namespace, self.key(name), value, ttl)

    async def replace_if(self, name: str, expected: bytes, value: bytes, ttl: float) -> bool:
        return await self._store.replace_if(self.namespace, self.key(name), expected, value, ttl)

    async def write_if(
        self, name: str, found: tuple[Record, bytes] | None, value: bytes, ttl: float
    ) -> bool:
        """Write ``value`` only if the record is still what ``get_stored`` found (None: if there
        is still none): one step of a compare-and-swap loop; False when another writer won."""
        if found is None:
            return await self.add(name, value, ttl)
        return await self.replace_if(name, found[1], value, ttl)

    async def scan(self) -> list[tuple[str, Record, bytes]]:
        """Every record with its store key and bytes (administration: never on a hot path)."""
        opened = []
        for key, raw in await self._store.items(self.namespace):
            record = self.load(raw)
            if record is not None:
                opened.append((key, record, raw))
        return opened

    async def forget_stored(self, key: str) -> None:
        """Remove by store key, as ``scan`` reported it."""
        await self._store.delete(self.namespace, key)


class Pointers:
    """Refresh-token hashes to the family they belong to (plain ids, not records)."""

    namespace = "refresh"

    def __init__(self, store: Store) -> None:
        self._store = store

    async def put(self, token_hash: str, family_id: str, ttl: float) -> None:
        await self._store.put(self.namespace, token_hash, family_id.encode(), ttl)

    async def family_of(self, token: str) -> tuple[str, str] | None:
        """The family id of a refresh token, and the token's hash."""
        token_hash = secret_key(token)
        family_id = await self._store.get(self.namespace, token_hash)
        return None if family_id is None else (family_id.decode(), token_hash)


@dataclass(frozen=True)
class OAuthRecords:
    #: Between /authorize and the identity provider's callback, named by ``state``.
    logins: RecordStore[LoginTransaction]
    #: A signed-in user looking at the approval page, named by the page's id.
    consents: RecordStore[PendingConsent]
    #: Remembered approvals, named by ``approvals.approval_key`` (already a hash).
    approvals: RecordStore[Approval]
    codes: RecordStore[AuthorizationCode]
    #: After a code is used, so that its replay can revoke what it produced.
    used_codes: RecordStore[IssuedFromCode]
    #: Refresh-token families by family id, written by compare-and-swap (``families.py``).
    families: RecordStore[RefreshFamily]
    refresh_tokens: Pointers
    #: Every access token issued, by ``jti`` (``issued.py``).
    issued: RecordStore[IssuedRecord]
    #: The tokens exchanged from each access token, by its ``jti`` (``issued.py``).
    delegations: RecordStore[DelegatedTokens]
    #: Machine clients made through the admin API, by client id (``clients/machines.py``).
    machine_clients: RecordStore[MachineClientRecord]
    #: RFC 8628 device authorizations, named by the device code's hash (``device_grants.py``).
    device_grants: RecordStore[DeviceGrant]
    #: User codes to the device grant they name, named by the user code.
    user_codes: RecordStore[UserCode]
    #: Wrong user codes per client address (``user_code_guesses.py``).
    user_code_guesses: RecordStore[GuessBucket]
    #: Device authorizations started per client address, and per client (``device_requests.py``).
    device_requests: RecordStore[GuessBucket]
    device_pending: RecordStore[PendingDeviceGrants]
    #: DPoP proofs used at /token, by their key's thumbprint and jti (``oauth/token_proofs.py``).
    used_dpop_proofs: RecordStore[UsedDpopProof]
    #: The identity provider's secret of each user's latest login, by subject (``upstream/``).
    provider_grants: RecordStore[ProviderGrant]
    #: Logins connecting the user's account at an upstream API, by state (``connected_accounts``).
    connects: RecordStore[ConnectTransaction]
    #: Users' connected accounts at upstream APIs (``upstream/connected.py``).
    connected_accounts: RecordStore[ConnectedAccount]

    @classmethod
    def open(cls, store: Store, codec: RecordCodec) -> OAuthRecords:
        def kind(namespace: str, model: type[Record], secret_named: bool) -> RecordStore[Record]:
            return RecordStore(store, codec, namespace, model, secret_named=secret_named)

        return cls(
            logins=kind("logins", LoginTransaction, True),
            consents=kind("consents", PendingConsent, True),
            approvals=kind("approvals", Approval, False),
            codes=kind("codes", AuthorizationCode, True),
            used_codes=kind("used-codes", IssuedFromCode, True),
            families=kind("families", RefreshFamily, False),
            refresh_tokens=Pointers(store),
            issued=kind("issued-tokens", IssuedRecord, False),
            delegations=kind("delegations", DelegatedTokens, False),
            machine_clients=kind("machine-clients", MachineClientRecord, False),
            device_grants=kind("device-grants", DeviceGrant, False),
            user_codes=kind("user-codes", UserCode, True),
            user_code_guesses=kind("user-code-guesses", GuessBucket, False),
            device_requests=kind("device-requests", GuessBucket, False),
            device_pending=kind("device-pending", PendingDeviceGrants, False),
            used_dpop_proofs=kind("dpop-proofs", UsedDpopProof, True),
            provider_grants=kind("provider-grants", ProviderGrant, False),
            connects=kind("connects", ConnectTransaction, True),
            connected_accounts=kind("connected-accounts", ConnectedAccount, False),
        )
