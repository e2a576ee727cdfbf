"""Upstream secrets inside stored records, sealed with ``store.encryptionKey``.

A login keeps what the identity provider handed over for later re-checks (an upstream refresh
token, a GitHub user token) for as long as the session lives, and for a few minutes the upstream
PKCE verifier and nonce. A store dump (a Redis RDB file or replica, a sqlite backup) must not hand
those out, so the fields holding them are sealed one by one when a record is written and opened
when it is read; the rest of a record stays readable for operators.

Fields typed ``SealedStr`` can only be written and read through ``RecordCodec``, which carries the
encryption in pydantic's serialisation context: a call site that forgets it fails loudly instead
of writing plaintext. Values written before sealing existed carry no prefix and are read as they
are; the next write seals them.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    PlainSerializer,
    SerializationInfo,
    ValidationInfo,
)

from ..store.encryption import Encryption, UndecryptableValue

log = logging.getLogger(__name__)

SEALED_PREFIX = "sealed:"
_CONTEXT_KEY = "encryption"

Record = TypeVar("Record", bound=BaseModel)


def _encryption(context: Any) -> Encryption:
    encryption = context.get(_CONTEXT_KEY) if isinstance(context, dict) else None
    if not isinstance(encryption, Encryption):
        raise TypeError("records holding sealed fields are written and read through RecordCodec")
    return encryption


def _seal(value: str, info: SerializationInfo) -> str:
    encryption = _encryption(info.context)
    if not encryption.enabled:
        return value
    return SEALED_PREFIX + encryption.seal(value.encode()).decode("ascii")


def _open(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) and value.startswith(SEALED_PREFIX):
        sealed = value.removeprefix(SEALED_PREFIX).encode("ascii")
        return _encryption(info.context).open(sealed).decode()
    return value


SealedStr = Annotated[str, BeforeValidator(_open), PlainSerializer(_seal, when_used="json")]


class RecordCodec:
    """Records to and from the bytes the store keeps, sealing their ``SealedStr`` fields."""

    def __init__(self, encryption: Encryption) -> None:
        self._context = {_CONTEXT_KEY: encryption}

    def dump(self, record: BaseModel) -> bytes:
        return record.model_dump_json(context=self._context).encode()

    def load(self, model: type[Record], raw: bytes | None) -> Record | None:
        """The record, or None when there is none or it cannot be opened any more.

        A record sealed with a key that is no longer configured is as good as gone: the login
        it belongs to starts again, rather than every later request failing on it.
        """
        if raw is None:
            return None
        try:
            return model.model_validate_json(raw, context=self._context)
        except UndecryptableValue as exc:
            log.warning("stored %s ignored: %s", model.__name__, exc)
            return None
