"""Sealed fields of stored records: sealed with a key, readable without one, never by accident."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic_core import PydanticSerializationError

from mcp_gatekeeper.oauth.records import User
from mcp_gatekeeper.oauth.sealed import SEALED_PREFIX, RecordCodec
from mcp_gatekeeper.store.encryption import Encryption

SECRET = "upstream-refresh-token-7d1f"
USER = User(subject="s", email="s@example.test", recheck_secret=SECRET)


def codec(key: str | None = None, *previous: str) -> RecordCodec:
    return RecordCodec(Encryption(key, previous))


def test_with_a_key_the_secret_is_sealed_and_comes_back() -> None:
    key = Fernet.generate_key().decode()
    raw = codec(key).dump(USER)
    assert SECRET.encode() not in raw and SEALED_PREFIX.encode() in raw
    assert codec(key).load(User, raw) == USER


def test_without_a_key_the_process_local_store_keeps_it_as_is() -> None:
    """memory:// has no key and no dump: nothing to seal against."""
    raw = codec().dump(USER)
    assert SECRET.encode() in raw
    assert codec().load(User, raw) == USER


def test_a_user_without_secret_has_nothing_to_seal() -> None:
    user = User(subject="s", email="s@example.test")
    key = Fernet.generate_key().decode()
    assert codec(key).load(User, codec(key).dump(user)) == user


def test_an_old_key_still_opens_and_an_unknown_one_reads_as_gone() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    raw = codec(old).dump(USER)
    assert codec(new, old).load(User, raw) == USER
    assert codec(new).load(User, raw) is None


def test_writing_a_record_around_the_codec_fails_loudly() -> None:
    """A call site that forgets the codec must not write the secret in the clear."""
    with pytest.raises(PydanticSerializationError, match="RecordCodec"):
        USER.model_dump_json()
    sealed = codec(Fernet.generate_key().decode()).dump(USER)
    with pytest.raises(TypeError, match="RecordCodec"):
        User.model_validate_json(sealed)
