"""DPoP server nonces (RFC 9449 §8, §9) that every replica issues and accepts without the store.

A nonce names a time window and carries an HMAC of it, keyed by a secret derived from the
signing key ring: every replica holds the same ring (the shared store keeps it), so a nonce one
replica issued is good at every other, and nothing is stored per nonce. A nonce is accepted in
its own window and the next one, so a client holding one has between one and two windows to use
it; the ring's previous current key still verifies right after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization

from ..keys import KeyRing, SigningKey

WINDOW = 60.0
_LABEL = b"mcp-gatekeeper dpop nonce v1\n"


def _secret(key: SigningKey) -> bytes:
    der = key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return hashlib.sha256(_LABEL + der).digest()


class DpopNonces:
    def __init__(self, ring: Callable[[], KeyRing], *, window: float = WINDOW) -> None:
        self._ring = ring
        self._window = window
        #: kid -> derived secret: serialising a private key costs far more than the HMAC.
        self._secrets: dict[str, bytes] = {}

    def _secret_of(self, key: SigningKey) -> bytes:
        secret = self._secrets.get(key.kid)
        if secret is None:
            if len(self._secrets) > 16:  # keys rotate hourly: forget the long retired ones
                self._secrets.clear()
            secret = self._secrets[key.kid] = _secret(key)
        return secret

    def _nonce(self, key: SigningKey, window: int) -> str:
        counter = window.to_bytes(8, "big")
        tag = hmac.digest(self._secret_of(key), counter, "sha256")[:16]
        return base64.urlsafe_b64encode(counter + tag).rstrip(b"=").decode("ascii")

    def current(self, now: float) -> str:
        """The nonce to hand out now."""
        return self._nonce(self._ring().current, int(now // self._window))

    def accepts(self, nonce: str | None, now: float) -> bool:
        if nonce is None or len(nonce) != 32:
            return False
        window = int(now // self._window)
        ring = self._ring()
        # A replica a rotation has not reached yet issues with what is "next" to the others
        # and one it has reached accepts what was current just before.
        keys = [ring.current, ring.next, *(old.key for old in ring.retired[-1:])]
        return any(
            hmac.compare_digest(nonce, self._nonce(key, candidate))
            for key in keys
            for candidate in (window, window - 1)
        )
