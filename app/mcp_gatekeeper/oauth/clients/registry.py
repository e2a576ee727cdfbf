"""The clients we know: registered here (RFC 7591), or described by a Client ID Metadata
Document (``client_id`` is an https URL, fetched on demand; see ``metadata_documents.py``)."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Protocol

from pydantic import ValidationError

from ...config.model import ClientsConfig
from ...store import Store
from ..errors import InvalidClientMetadata, InvalidRedirectUri
from ..hashing import secret_key
from .metadata_document_rules import UnusableMetadataDocument
from .models import (
    DEVICE_GRANT_TYPES,
    DEVICE_ONLY_GRANT_TYPES,
    GRANT_TYPES,
    SUPPORTED_AUTH_METHODS,
    ClientMetadata,
    RegisteredClient,
)
from .redirect_uris import registration_problem
from .registration_limit import RegistrationLimit

NAMESPACE = "clients"
#: Metadata-document clients an administrator revoked: anyone can serve a document, so such a
#: client cannot be deleted like a registration, only refused by its URL.
DENIED = "denied-clients"
#: Until an operator allows the client again (the store wants a lifetime: ten years).
DENIED_FOR = 10 * 365 * 86400.0
log = logging.getLogger(__name__)


class MetadataDocumentSource(Protocol):
    async def get(self, url: str) -> ClientMetadata:
        """The validated document at ``url``, or ``UnusableMetadataDocument``."""
        ...


def is_metadata_document_id(client_id: str) -> bool:
    return client_id.startswith("https://")


class ClientRegistry:
    def __init__(
        self,
        store: Store,
        config: ClientsConfig,
        allowed_redirect_urls: list[str],
        documents: MetadataDocumentSource | None,
        clock: Callable[[], float] = time.time,
        *,
        device_flow: bool = False,
    ) -> None:
        self._store = store
        #: ``grants.deviceCode.enabled``: clients may register the device_code grant.
        self._device_flow = device_flow
        self._config = config
        self._allowed = allowed_redirect_urls
        self._documents = documents
        self._clock = clock
        self._limit = RegistrationLimit(
            config.registrations_per_minute, config.registrations_per_minute_per_address, clock
        )

    async def register(self, raw: object, address: str) -> tuple[RegisteredClient, str | None]:
        """Validate and store a client from ``address``; returns it with its secret (if any)."""
        self._limit.take(address)
        try:
            metadata = ClientMetadata.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            raise InvalidClientMetadata(f"{field}: {first['msg']}") from None
        self.check_metadata(metadata)
        client_id = secrets.token_urlsafe(24)
        public = metadata.token_endpoint_auth_method == "none"  # noqa: S105
        secret = None if public else secrets.token_urlsafe(32)
        client = RegisteredClient(
            client_id=client_id,
            client_secret_hash=secret_key(secret) if secret else None,
            client_id_issued_at=int(self._clock()),
            metadata=metadata,
        )
        await self.save(client)
        return client, secret

    def check_metadata(self, metadata: ClientMetadata) -> None:
        """The rules every client must meet, registered or described by a document."""
        for uri in metadata.redirect_uris:
            problem = registration_problem(uri, self._allowed)
            if problem:
                raise InvalidRedirectUri(f"redirect URI {uri!r} {problem}")
        if metadata.token_endpoint_auth_method not in SUPPORTED_AUTH_METHODS:
            raise InvalidClientMetadata(
                "token_endpoint_auth_method must be one of " + ", ".join(SUPPORTED_AUTH_METHODS)
            )
        device_only = self._device_flow and set(metadata.grant_types) in DEVICE_ONLY_GRANT_TYPES
        if device_only and metadata.redirect_uris:
            raise InvalidClientMetadata("a device-flow client has no redirect_uris")
        if not device_only and "authorization_code" not in metadata.grant_types:
            raise InvalidClientMetadata("grant_types must include authorization_code")
        if not device_only and not metadata.redirect_uris:
            raise InvalidClientMetadata("redirect_uris: List should have at least 1 item")
        supported = DEVICE_GRANT_TYPES if self._device_flow else GRANT_TYPES
        unknown = set(metadata.grant_types) - set(supported)
        if unknown:
            raise InvalidClientMetadata(f"unsupported grant_types: {', '.join(sorted(unknown))}")
        # RFC 7591 §2: response_types defaults to ["code"]; a device-only client uses none.
        if metadata.response_types != ["code"] and not (
            device_only and metadata.response_types == []
        ):
            raise InvalidClientMetadata('response_types must be ["code"]')

    async def save(self, client: RegisteredClient) -> None:
        ttl = self._config.client_ttl.total_seconds()
        await self._store.put(NAMESPACE, client.client_id, client.model_dump_json().encode(), ttl)

    async def get(self, client_id: str) -> RegisteredClient | None:
        """A registered client, or the client a metadata document describes; ``None`` if neither.

        ``UnusableMetadataDocument`` propagates: the caller says why the document was refused.
        """
        if is_metadata_document_id(client_id) and self._documents is not None:
            if await self._store.get(DENIED, client_id) is not None:
                raise UnusableMetadataDocument("an administrator of this service revoked it")
            metadata = await self._documents.get(client_id)
            self.check_metadata(metadata)
            return RegisteredClient(
                client_id=client_id,
                client_id_issued_at=int(self._clock()),
                metadata=metadata,
                from_metadata_document=True,
            )
        if len(client_id) > 200:
            return None
        stored = await self._store.get(NAMESPACE, client_id)
        return RegisteredClient.model_validate_json(stored) if stored else None

    async def registered(self) -> list[RegisteredClient]:
        """Every registered client (administration: a whole-namespace scan)."""
        return [
            RegisteredClient.model_validate_json(raw)
            for _key, raw in await self._store.items(NAMESPACE)
        ]

    async def delete(self, client_id: str) -> bool:
        found = await self._store.pop(NAMESPACE, client_id)
        return found is not None

    async def deny(self, client_id: str) -> None:
        """Refuse a metadata-document client at /authorize and /token until ``allow``."""
        await self._store.put(DENIED, client_id, repr(self._clock()).encode(), DENIED_FOR)

    async def allow(self, client_id: str) -> bool:
        """Lift ``deny``; ``False`` if the client was not refused."""
        return await self._store.pop(DENIED, client_id) is not None

    async def denied(self) -> dict[str, float]:
        """Refused metadata-document clients and since when (administration: a scan)."""
        return {client_id: float(raw) for client_id, raw in await self._store.items(DENIED)}

    @staticmethod
    def secret_matches(client: RegisteredClient, secret: str) -> bool:
        if client.client_secret_hash is None:
            return False
        return hmac.compare_digest(secret_key(secret), client.client_secret_hash)
