"""One RSA-2048 signing key: generation, its RFC 7638 thumbprint ``kid``, and (de)serialisation."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ALGORITHM = "RS256"
KEY_BITS = 2048


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass(frozen=True)
class SigningKey:
    """A private key with the public values everyone else needs."""

    kid: str
    private_key: rsa.RSAPrivateKey
    public_key: rsa.RSAPublicKey
    created_at: float

    @classmethod
    def from_private_key(cls, private_key: rsa.RSAPrivateKey, created_at: float) -> SigningKey:
        public_key = private_key.public_key()
        return cls(thumbprint(public_key), private_key, public_key, created_at)

    def public_jwk(self) -> dict[str, str]:
        numbers = self.public_key.public_numbers()
        return {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
            "n": _b64url(_int_bytes(numbers.n)),
            "e": _b64url(_int_bytes(numbers.e)),
        }

    def to_dict(self) -> dict[str, Any]:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {"pem": pem.decode("ascii"), "createdAt": self.created_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SigningKey:
        private_key = serialization.load_pem_private_key(data["pem"].encode("ascii"), None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("stored signing key is not an RSA key")
        return cls.from_private_key(private_key, float(data["createdAt"]))


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 §3: SHA-256 over the required members in lexicographic order, base64url."""
    numbers = public_key.public_numbers()
    members = {
        "e": _b64url(_int_bytes(numbers.e)),
        "kty": "RSA",
        "n": _b64url(_int_bytes(numbers.n)),
    }
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("ascii")
    return _b64url(hashlib.sha256(canonical).digest())


def generate_signing_key(created_at: float) -> SigningKey:
    """CPU-bound (15-120 ms): callers run it off the event loop."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return SigningKey.from_private_key(private_key, created_at)
