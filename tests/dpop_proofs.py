"""A DPoP client's side (RFC 9449 §4.2): a key pair and the proofs it signs. No SDK does DPoP,
so the tests sign their own proofs, exactly as a client would put them on the wire."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class DpopKey:
    alg: str = "ES256"
    private: PrivateKey = field(init=False)

    def __post_init__(self) -> None:
        if self.alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
        elif self.alg in {"RS256", "PS256"}:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif self.alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(self.alg)

    @property
    def jwk(self) -> dict[str, str]:
        key = self.private.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            numbers = key.public_numbers()
            x, y = (n.to_bytes(32, "big") for n in (numbers.x, numbers.y))
            return {"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)}
        if isinstance(key, rsa.RSAPublicKey):
            rsa_numbers = key.public_numbers()
            return {"kty": "RSA", "n": _int(rsa_numbers.n), "e": _int(rsa_numbers.e)}
        assert isinstance(key, ed25519.Ed25519PublicKey)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(key.public_bytes_raw())}

    @property
    def thumbprint(self) -> str:
        jwk = self.jwk
        members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}.get(
            jwk["kty"], ("crv", "kty", "x")
        )
        canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"))
        return b64url(hashlib.sha256(canonical.encode()).digest())

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        signing_input = (
            b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        ).encode()
        key = self.private
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        elif isinstance(key, rsa.RSAPrivateKey):
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if self.alg == "RS256"
                else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            )
            signature = key.sign(signing_input, pad, hashes.SHA256())
        else:
            signature = key.sign(signing_input)
        return signing_input.decode() + "." + b64url(signature)

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A proof for one request; ``header`` and ``claims`` override what a client sends."""
        body: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16) if jti is None else jti,
            "htm": method,
            "htu": url,
            "iat": int(time.time() if iat is None else iat),
        }
        if access_token is not None:
            body["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        if nonce is not None:
            body["nonce"] = nonce
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        return self.sign({**head, **(header or {})}, {**body, **(claims or {})})


class DpopAuth(httpx2.Auth):
    """What a DPoP client does on every request to a resource: ``Authorization: DPoP <token>``
    and a fresh proof for this method and URL (with the server's nonce once it sent one)."""

    def __init__(self, key: DpopKey, token: str) -> None:
        self.key = key
        self.token = token
        self.nonce: str | None = None

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        url = str(request.url).split("?", 1)[0]
        for _attempt in range(2):
            request.headers["Authorization"] = f"DPoP {self.token}"
            request.headers["DPoP"] = self.key.proof(
                request.method, url, access_token=self.token, nonce=self.nonce
            )
            response = yield request
            nonce = response.headers.get("dpop-nonce")
            if response.status_code != 401 or nonce is None or nonce == self.nonce:
                return
            self.nonce = nonce  # RFC 9449 §9: retry once with the nonce the server asked for
