"""DPoP proofs (RFC 9449 §4): read and verified, one C call per step as in ``jws.py``.

A proof is a JWT the client signs with a key it holds, per request: ``typ`` ``dpop+jwt``, an
asymmetric ``alg``, the public key in the ``jwk`` header (never a private one), and claims naming
this request (``htm``, ``htu``), when (``iat``), once (``jti``) and, at a resource, which access
token (``ath``). A token bound to the key carries its RFC 7638 thumbprint as ``cnf.jkt``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from .jws import MalformedJws, b64url_decode, json_object, split

PROOF_TYPE = "dpop+jwt"
#: What a proof may be signed with (RFC 9449 §4.2: asymmetric only, never ``none`` or HMAC).
ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
MAX_PROOF_BYTES = 4096
MIN_RSA_BITS = 2048
_SHA256 = hashes.SHA256()
_PSS = padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=32)
_DEFAULT_PORTS = {"https": 443, "http": 80}
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class InvalidProof(ValueError):
    """The proof is not acceptable; the message is safe to send back (``invalid_dpop_proof``)."""


@dataclass(frozen=True, slots=True)
class Proof:
    #: RFC 7638 thumbprint of the proof's key: what ``cnf.jkt`` must equal.
    jkt: str
    jti: str
    iat: float
    nonce: str | None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty", ""))
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise InvalidProof("the proof's jwk is not an RSA, EC or OKP public key")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2 ``ath``."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def _integer(value: Any) -> int:
    if not isinstance(value, str):
        raise InvalidProof("the proof's jwk is malformed")
    try:
        return int.from_bytes(b64url_decode(value.encode("ascii")), "big")
    except (MalformedJws, UnicodeEncodeError):
        raise InvalidProof("the proof's jwk is malformed") from None


def public_key(jwk: dict[str, Any], alg: str) -> PublicKey:
    """The key of the ``jwk`` header, for ``alg``; private members are refused outright."""
    if "d" in jwk or "p" in jwk:
        raise InvalidProof("the proof's jwk holds a private key")
    kty = jwk.get("kty")
    try:
        if kty == "RSA" and alg in {"RS256", "PS256"}:
            key = rsa.RSAPublicNumbers(_integer(jwk.get("e")), _integer(jwk.get("n"))).public_key()
            if key.key_size < MIN_RSA_BITS:
                raise InvalidProof(f"the proof's RSA key is shorter than {MIN_RSA_BITS} bits")
            return key
        if kty == "EC" and alg == "ES256" and jwk.get("crv") == "P-256":
            x, y = _integer(jwk.get("x")), _integer(jwk.get("y"))
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        if kty == "OKP" and alg == "EdDSA" and jwk.get("crv") == "Ed25519":
            raw = b64url_decode(str(jwk.get("x", "")).encode("ascii"))
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, MalformedJws, UnicodeEncodeError):
        raise InvalidProof("the proof's jwk is not a valid public key") from None
    raise InvalidProof(f"the proof's jwk cannot sign {alg}")


def _verify(key: PublicKey, alg: str, signature: bytes, signed: bytes) -> None:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15() if alg == "RS256" else _PSS, _SHA256)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:  # JWS ES256 is r || s, 32 bytes each (RFC 7518 §3.4)
                raise InvalidProof("the proof's signature is malformed")
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(utils.encode_dss_signature(r, s), signed, ec.ECDSA(_SHA256))
        else:
            key.verify(signature, signed)
    except InvalidSignature:
        raise InvalidProof("the proof's signature does not verify") from None


def normalized_url(url: str) -> str:
    """RFC 9449 §4.3 point 9: scheme and host case-insensitive, default port implied, no query
    or fragment; "" for anything that is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    authority = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return f"{scheme}://{authority}{parts.path or '/'}"


@dataclass(frozen=True, slots=True)
class _ProofKey:
    alg: str
    key: PublicKey
    jkt: str


def _proof_key(header_segment: bytes) -> _ProofKey:
    header = json_object(b64url_decode(header_segment))
    if header.get("typ") != PROOF_TYPE:
        raise InvalidProof(f"the proof's typ must be {PROOF_TYPE}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise InvalidProof(f"the proof's alg must be one of {', '.join(ALGORITHMS)}")
    if "crit" in header:  # RFC 7515 §4.1.11: extensions we do not know must be refused
        raise InvalidProof("the proof names critical header parameters")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidProof("the proof has no jwk header")
    return _ProofKey(alg, public_key(jwk, alg), thumbprint(jwk))


class ProofVerifier:
    """RFC 9449 §4.3 checks 1-11; the caller checks ``jti`` uniqueness, the nonce and the
    token's ``cnf.jkt``.

    A client signs every proof with the same key, so its header segment repeats: the key built
    from it (and its thumbprint) is remembered once a proof signed with it verified, and only the
    signature and the claims are left to check per request.
    """

    def __init__(self, *, max_age: float, leeway: float, cache_size: int = 10_000) -> None:
        self._max_age = max_age
        self._leeway = leeway
        self._cache_size = cache_size
        self._keys: OrderedDict[bytes, _ProofKey] = OrderedDict()

    def verify(
        self, proof: str, *, method: str, url: str, now: float, access_token: str | None = None
    ) -> Proof:
        if len(proof) > MAX_PROOF_BYTES:
            raise InvalidProof("the proof is too large")
        target = normalized_url(url)
        if not target:
            raise InvalidProof("the request's URL is not known, so no proof can match it")
        try:
            header_segment, payload_segment, signature_segment = split(proof)
            known = self._keys.get(header_segment)
            proof_key = known or _proof_key(header_segment)
            signature = b64url_decode(signature_segment)
            signed = header_segment + b"." + payload_segment
            _verify(proof_key.key, proof_key.alg, signature, signed)
            claims = json_object(b64url_decode(payload_segment))
        except MalformedJws:
            raise InvalidProof("the proof is not a compact JWS") from None
        self._remember(header_segment, proof_key, known is not None)
        return self._checked(claims, method, target, now, access_token, proof_key.jkt)

    def _remember(self, header: bytes, proof_key: _ProofKey, known: bool) -> None:
        if known:
            self._keys.move_to_end(header)
            return
        self._keys[header] = proof_key
        if len(self._keys) > self._cache_size:
            self._keys.popitem(last=False)

    def _checked(
        self,
        claims: dict[str, Any],
        method: str,
        target: str,
        now: float,
        access_token: str | None,
        jkt: str,
    ) -> Proof:
        jti, raw_iat, htm, htu = (claims.get(name) for name in ("jti", "iat", "htm", "htu"))
        if not isinstance(jti, str) or not 0 < len(jti) <= 256:
            raise InvalidProof("the proof has no usable jti")
        # bool is an int to Python, not a time to anyone; huge values would lose precision.
        if (
            isinstance(raw_iat, bool)
            or not isinstance(raw_iat, int | float)
            or not -(2**53) < raw_iat < 2**53
        ):
            raise InvalidProof("the proof has no usable iat")
        iat = float(raw_iat)
        if not now - self._max_age - self._leeway <= iat <= now + self._leeway:
            raise InvalidProof("the proof's iat is outside the accepted window")
        if htm != method:
            raise InvalidProof("the proof's htm is not this request's method")
        if not isinstance(htu, str) or normalized_url(htu) != target:
            raise InvalidProof("the proof's htu is not this request's URL")
        if access_token is not None and claims.get("ath") != access_token_hash(access_token):
            raise InvalidProof("the proof's ath does not match the access token")
        nonce = claims.get("nonce")
        return Proof(jkt, jti, iat, nonce if isinstance(nonce, str) else None)
