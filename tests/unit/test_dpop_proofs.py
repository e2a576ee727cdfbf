"""RFC 9449 §4.3: what a DPoP proof must be before a bound token is accepted with it."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mcp_gatekeeper.tokens.dpop import InvalidProof, Proof, ProofVerifier, normalized_url
from tests.dpop_proofs import DpopKey

NOW = 1_800_000_000.0
URL = "https://mcp.example.com/mcp"
TOKEN = "header.payload.signature"
VERIFIER = ProofVerifier(max_age=60, leeway=5)


def check(proof: str, method: str = "POST", url: str = URL, token: str | None = TOKEN) -> Proof:
    return VERIFIER.verify(proof, method=method, url=url, now=NOW, access_token=token)


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA"])
def test_a_proof_from_each_algorithm_gives_its_keys_thumbprint(alg: str) -> None:
    key = DpopKey(alg)
    proof = check(key.proof("POST", URL, access_token=TOKEN, iat=NOW, nonce="n1"))
    assert (proof.jkt, proof.nonce, proof.iat) == (key.thumbprint, "n1", NOW)


def test_the_url_is_compared_without_query_fragment_case_or_default_port() -> None:
    key = DpopKey()
    proof = key.proof("POST", "HTTPS://MCP.example.com:443/mcp?x=1#f", access_token=TOKEN, iat=NOW)
    assert check(proof).jkt == key.thumbprint
    assert normalized_url("https://h:8443/a") != normalized_url("https://h/a")
    assert normalized_url("https://h/a") != normalized_url("https://h/A")


def _forged_alg_none(key: DpopKey) -> str:
    payload = key.proof("POST", URL, iat=NOW).split(".")[1]
    none_header = base64.urlsafe_b64encode(
        json.dumps({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}).encode()
    )
    return none_header.rstrip(b"=").decode() + "." + payload + "."


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda k: k.proof("GET", URL, access_token=TOKEN, iat=NOW), "htm"),
        (lambda k: k.proof("POST", URL + "/other", access_token=TOKEN, iat=NOW), "htu"),
        (
            lambda k: k.proof("POST", "https://other.example.com/mcp", access_token=TOKEN, iat=NOW),
            "htu",
        ),
        (lambda k: k.proof("POST", URL, access_token="another", iat=NOW), "ath"),
        (lambda k: k.proof("POST", URL, iat=NOW), "ath"),
        (lambda k: k.proof("POST", URL, access_token=TOKEN, iat=NOW - 120), "iat"),
        (lambda k: k.proof("POST", URL, access_token=TOKEN, iat=NOW + 60), "iat"),
        (lambda k: k.proof("POST", URL, access_token=TOKEN, iat=NOW, jti=""), "jti"),
        (
            lambda k: k.proof("POST", URL, access_token=TOKEN, iat=NOW, claims={"iat": 10**400}),
            "iat",
        ),
        (lambda k: k.proof("POST", URL, access_token=TOKEN, iat=NOW, claims={"iat": True}), "iat"),
        (lambda k: k.proof("POST", URL, access_token=TOKEN, header={"typ": "JWT"}), "typ"),
        (lambda k: k.proof("POST", URL, access_token=TOKEN, header={"jwk": {"kty": "oct"}}), "jwk"),
        (
            lambda k: k.proof("POST", URL, access_token=TOKEN, header={"jwk": DpopKey().jwk}),
            "signature",
        ),
        (_forged_alg_none, "alg"),
    ],
)
def test_a_proof_that_does_not_fit_this_request_is_refused(make: object, reason: str) -> None:
    key = DpopKey()
    with pytest.raises(InvalidProof, match=reason):
        check(make(key))  # type: ignore[operator]


def test_a_private_key_in_the_header_is_refused() -> None:
    key = DpopKey("RS256")
    assert isinstance(key.private, rsa.RSAPrivateKey)
    leaked = {**key.jwk, "d": str(key.private.private_numbers().d)}
    with pytest.raises(InvalidProof, match="private"):
        check(key.proof("POST", URL, access_token=TOKEN, iat=NOW, header={"jwk": leaked}))


def test_a_proof_for_an_unknown_request_url_never_matches() -> None:
    key = DpopKey()
    with pytest.raises(InvalidProof, match="URL"):
        check(key.proof("POST", "", access_token=TOKEN, iat=NOW), url="")


def test_a_remembered_key_still_needs_a_valid_signature_per_proof() -> None:
    key = DpopKey()
    first = key.proof("POST", URL, access_token=TOKEN, iat=NOW)
    assert check(first).jkt == key.thumbprint
    header, payload, _signature = key.proof("POST", URL, access_token=TOKEN, iat=NOW).split(".")
    forged = header + "." + payload + "." + first.split(".")[2]
    with pytest.raises(InvalidProof, match="signature"):
        check(forged)
