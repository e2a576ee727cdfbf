"""Keys and key addresses written into the configuration: public keys only, fetched over https.

An inline JWKS is checked when the file is loaded, so a pasted private key or a key PyJWT cannot
read is a ``check-config`` problem rather than a refusal at the first token exchange.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import jwt

from ..net import is_loopback_hostname

#: JWK members that hold secrets (RFC 7518 §6.2.2, §6.3.2, §6.4.1): never in the configuration.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
KEY_TYPES = ("RSA", "EC")


def public_jwks(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` if it is a JWKS of usable public signing keys, each findable by its ``kid``."""
    keys = value.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ValueError('must be a JWKS: {"keys": [...]} with at least one key')
    for index, key in enumerate(keys):
        if not isinstance(key, dict):
            raise ValueError(f"keys[{index}] is not a JSON object")
        private = [member for member in PRIVATE_MEMBERS if member in key]
        if private:
            raise ValueError(
                f"keys[{index}] holds private key material ({', '.join(private)}): "
                "give the public key only"
            )
        if key.get("kty") not in KEY_TYPES:
            raise ValueError(f"keys[{index}]: kty must be one of {', '.join(KEY_TYPES)}")
        try:
            jwt.PyJWK.from_dict(key)
        except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
            raise ValueError(f"keys[{index}] is not a usable public key: {exc}") from None
        if len(keys) > 1 and not isinstance(key.get("kid"), str):
            # A JWT names its key by kid; without one, which of several keys is meant is a guess.
            raise ValueError(f"keys[{index}] needs a kid (the set has several keys)")
    return value


def https_url(value: str) -> str:
    """``value`` if it is an https URL (http only on loopback), without query or fragment:
    an issuer identifier (RFC 8414 §2) or where keys are fetched."""
    parts = urlsplit(value)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and is_loopback_hostname(parts.hostname or "")
    )
    if not secure or not parts.hostname or parts.query or parts.fragment:
        raise ValueError("must be an https:// URL (http:// only on loopback), no query or fragment")
    return value
