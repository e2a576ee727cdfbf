"""Encryption at rest for what must not leak from a store dump: the private signing keys.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with ``store.encryptionKey``;
``store.previousEncryptionKeys`` still decrypt, so the key can be rotated: put the new key first,
move the old one to the previous list, and the first process that loads the key ring writes it
back encrypted with the new key. Without a key (``memory://`` only) values are kept as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class UndecryptableValue(Exception):
    """Encrypted with a key that is neither the current nor a previous one."""


def split_keys(value: str) -> list[str]:
    """``previousEncryptionKeys`` holds keys separated by commas, spaces or newlines."""
    return [key for key in re.split(r"[\s,]+", value) if key]


def check_key(key: str) -> None:
    """``ValueError`` unless ``key`` is a Fernet key (32 url-safe base64-encoded bytes)."""
    try:
        Fernet(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValueError(
            "not a Fernet key (32 url-safe base64 bytes); make one with: python -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        ) from None


class Encryption:
    """Seal and open values; ``enabled`` is False when no key is configured."""

    def __init__(self, key: str | None, previous: Sequence[str] = ()) -> None:
        self._primary = Fernet(key.encode("ascii")) if key else None
        fernets = [Fernet(old.encode("ascii")) for old in previous]
        self._all = MultiFernet([self._primary, *fernets]) if self._primary else None

    @property
    def enabled(self) -> bool:
        return self._all is not None

    def seal(self, plaintext: bytes) -> bytes:
        return self._all.encrypt(plaintext) if self._all is not None else plaintext

    def open(self, sealed: bytes) -> bytes:
        if self._all is None:
            return sealed
        try:
            return self._all.decrypt(sealed)
        except InvalidToken:
            raise UndecryptableValue(
                "a stored value cannot be decrypted with store.encryptionKey or any of "
                "store.previousEncryptionKeys (was the key changed without keeping the old one?)"
            ) from None

    def is_current(self, sealed: bytes) -> bool:
        """True if ``sealed`` is encrypted with the current key (no re-encryption needed)."""
        if self._primary is None:
            return True
        try:
            self._primary.decrypt(sealed)
        except InvalidToken:
            return False
        return True
