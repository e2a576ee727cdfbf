"""Compact RS256 JWS, read and verified without PyJWT on the ``/authenticate`` miss path.

``jwt.decode`` re-validates every segment character by character in Python, parses the header
twice and dispatches through its algorithm registry: more than half of an uncached check
(``research/perf.md``). Every check it made for us stays, each done by one C call: three
base64url segments (``binascii`` in strict mode, after a translation that turns anything outside
the URL-safe alphabet into an invalid character), one spelling per signature, the RS256
signature over the first two segments, a JSON object as payload (jiter, which refuses NaN,
lone surrogates and invalid UTF-8 where ``json.loads`` lets some through).
"""

from __future__ import annotations

import binascii
from typing import Any

import jiter
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: URL-safe to standard base64; the standard alphabet's own ``+``, ``/`` and ``=`` become ``!``,
#: which strict decoding refuses, so a segment that was not base64url cannot decode.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
#: Per value of the last character: whether its unused low bits are zero, by ``len % 4``
#: (2: four unused bits, 3: two). Any other spelling would give a token sixteen texts.
_CANONICAL_LAST = {
    2: frozenset(_ALPHABET[i] for i in range(0, 64, 16)),
    3: frozenset(_ALPHABET[i] for i in range(0, 64, 4)),
}
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


class MalformedJws(ValueError):
    """Not a compact JWS this service could have signed; ``reason`` is for logs and metrics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def b64url_decode(segment: bytes) -> bytes:
    """Unpadded base64url, strictly: nothing outside the alphabet, no ``len % 4 == 1``."""
    padded = segment.translate(_TO_STANDARD) + b"=" * (-len(segment) % 4)
    try:
        return binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error:
        raise MalformedJws("malformed") from None


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = jiter.from_json(raw, allow_inf_nan=False)
    except ValueError:
        raise MalformedJws("malformed") from None
    if not isinstance(value, dict):
        raise MalformedJws("malformed")
    return value


def split(token: str) -> tuple[bytes, bytes, bytes]:
    """Header, payload and signature segments of an ASCII token."""
    try:
        segments = token.encode("ascii").split(b".")
    except UnicodeEncodeError:
        raise MalformedJws("malformed") from None
    if len(segments) != 3:
        raise MalformedJws("malformed")
    header, payload, signature = segments
    return header, payload, signature


def verified_payload(
    header: bytes, payload: bytes, signature: bytes, key: rsa.RSAPublicKey
) -> dict[str, Any]:
    """The JSON object ``payload`` holds, once ``key`` verified the RS256 signature over
    ``header.payload``. The header must have been read (and found RS256) by the caller."""
    if not payload or not signature:
        raise MalformedJws("malformed")
    raw_signature = b64url_decode(signature)
    remainder = len(signature) % 4
    if remainder and signature[-1] not in _CANONICAL_LAST[remainder]:
        raise MalformedJws("malformed")
    try:
        key.verify(raw_signature, header + b"." + payload, _PKCS1, _SHA256)
    except InvalidSignature:
        raise MalformedJws("bad signature") from None
    return json_object(b64url_decode(payload))
