"""A stand-in for a cluster's service-account token signer (no cluster in the tests).

Its tokens are shaped exactly like a projected service-account token the kubelet mounts into a
pod (``serviceAccountToken`` volume source with an ``audience``): RS256 with the key's ``kid``,
``iss``, ``sub`` ``system:serviceaccount:<namespace>:<name>``, ``aud`` as a list, the
``kubernetes.io`` object (namespace, node, pod, service account), ``exp``, ``iat``, ``nbf``,
``jti``. Its keys are what an operator copies from the cluster's ``/openid/v1/jwks`` into the
configuration (an inline ``jwks``). ``forged`` makes the tokens an attacker would try.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
K8S_AUDIENCE = "mcp-gatekeeper"


@dataclass
class ServiceAccountSigner:
    issuer: str = K8S_ISSUER
    kid: str = "sa-key-2026"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwks(self) -> dict[str, Any]:
        """The public JWKS, as the cluster serves it at ``/openid/v1/jwks``."""
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(
        self,
        *,
        namespace: str,
        name: str,
        now: float,
        audience: str = K8S_AUDIENCE,
        lifetime: int = 3600,
    ) -> dict[str, Any]:
        issued = int(now)
        return {
            "aud": [audience],
            "exp": issued + lifetime,
            "iat": issued,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": namespace,
                "node": {"name": "node-a", "uid": str(uuid.uuid4())},
                "pod": {"name": f"{name}-29010240-x7k2p", "uid": str(uuid.uuid4())},
                "serviceaccount": {"name": name, "uid": str(uuid.uuid4())},
            },
            "nbf": issued,
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid, **headers})

    def token(self, *, namespace: str, name: str, now: float, **options: Any) -> str:
        return self.sign(self.claims(namespace=namespace, name=name, now=now, **options))


def forged(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A JWT with any header: HMAC-SHA256 over ``secret`` (the alg-confusion attack signs with
    the public key's bytes), or no signature at all for ``alg: none``."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
