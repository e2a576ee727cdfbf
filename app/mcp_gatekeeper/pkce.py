"""PKCE (RFC 7636), S256 only: OAuth 2.1 and MCP require it; ``plain`` is never accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# RFC 7636 §4.1 (verifier) and §4.2 (an S256 challenge is 43 base64url characters).
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def is_valid_challenge(challenge: str) -> bool:
    return bool(_CHALLENGE.match(challenge))


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))) without padding; also what the
    providers send upstream."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(verifier: str, challenge: str) -> bool:
    """Constant-time: the comparison must not leak how much of the challenge matched."""
    if not _VERIFIER.match(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)
