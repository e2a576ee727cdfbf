"""Machine clients in tests: their keys, the JWTs they sign (well and badly), token requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mcp_gatekeeper.oauth.client_assertions import CLIENT_ASSERTION_TYPE

#: Long enough for the configuration (``MIN_SECRET_LENGTH``).
SECRET = "s3cret-for-the-nightly-ci-job-0123456789"
KID = "ci-key-1"
_KEYS: list[rsa.RSAPrivateKey] = []


def client_key(index: int = 0) -> rsa.RSAPrivateKey:
    """RSA keys made once per session (keygen is slow), by index."""
    while len(_KEYS) <= index:
        _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS[index]


def public_jwk(key: rsa.RSAPrivateKey, kid: str = KID) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return jwk | {"kid": kid, "use": "sig", "alg": "RS256"}


def public_jwks(key: rsa.RSAPrivateKey, kid: str = KID) -> dict[str, Any]:
    return {"keys": [public_jwk(key, kid)]}


def assertion(
    key: rsa.RSAPrivateKey,
    client_id: str,
    audience: str,
    *,
    now: float | None = None,
    lifetime: float = 60,
    kid: str = KID,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A client assertion (RFC 7523 §2.2) as a well-behaved client signs it; ``claims``
    override or (as None) remove the defaults."""
    issued = time.time() if now is None else now
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": int(issued),
        "exp": int(issued + lifetime),
        "jti": secrets.token_urlsafe(16),
    }
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid, **(headers or {})})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None = None) -> str:
    """A JWT PyJWT would refuse to make: ``alg: none`` (no signature), or HS256 keyed with
    ``secret`` (the alg-confusion attack: the public key's PEM as an HMAC secret)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"authorization": f"Basic {encoded}"}


def jwt_form(token: str, **form: str) -> dict[str, str]:
    return {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": token, **form}


async def token_request(
    http: httpx.AsyncClient,
    form: dict[str, str],
    headers: dict[str, str] | None = None,
    url: str = "/token",
) -> httpx.Response:
    """``grant_type=client_credentials`` plus ``form`` (``resource``, ``scope``, credentials)."""
    body = {"grant_type": "client_credentials", **form}
    return await http.post(url, data=body, headers=headers or {})
