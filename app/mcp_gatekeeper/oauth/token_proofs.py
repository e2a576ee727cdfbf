"""DPoP proofs at /token (RFC 9449 §5): checked before any grant runs, each accepted once.

A token request may carry one ``DPoP`` header: a proof for ``POST`` to this token endpoint
(``htu`` is the issuer's token endpoint URL, no ``ath``: no access token is presented). What it
proves is the thumbprint of the client's key, which the grant binds the token to where the host
takes DPoP tokens (``grants/common.py``). Checked before the grant so that a refused proof, or a
nonce the client must fetch first (§8), consumes no authorization code or device code: the client
signs a new proof and sends the same request again.

Unlike ``/authenticate`` (which never waits for the store), /token keeps every accepted proof's
``jti`` in the store, so a proof is accepted once across every replica sharing it.
"""

from __future__ import annotations

from ..services import Services
from ..tokens.dpop import InvalidProof, Proof
from .errors import InvalidDpopProof, UseDpopNonce
from .records import UsedDpopProof


async def proof_key(services: Services, proofs: list[str], url: str) -> str | None:
    """The thumbprint of the key the request's proof shows, None when it carries none.

    ``proofs`` are the values of every ``DPoP`` header; ``url`` is this token endpoint's."""
    if not proofs:
        return None
    if len(proofs) > 1:
        raise InvalidDpopProof("send exactly one DPoP header")
    now = services.clock()
    try:
        proof = services.dpop_proofs.verify(proofs[0], method="POST", url=url, now=now)
    except InvalidProof as exc:
        raise InvalidDpopProof(str(exc)) from None
    nonces = services.dpop_nonces
    if services.config.tokens.dpop_nonces and not nonces.accepts(proof.nonce, now):
        missing = proof.nonce is None
        raise UseDpopNonce(
            "the DPoP proof must carry the nonce of the DPoP-Nonce header"
            if missing
            else "the DPoP proof's nonce is expired or was not issued here; use the new one",
            nonce=nonces.current(now),
        )
    await _use_once(services, proof, now)
    return proof.jkt


async def _use_once(services: Services, proof: Proof, now: float) -> None:
    """RFC 9449 §11.1: the store's atomic add lets one request, on one replica, have it."""
    tokens = services.config.tokens
    # Past this, the proof's iat is outside the window and the verifier refuses it anyway.
    window_ends = proof.iat + (tokens.dpop_proof_max_age + tokens.clock_skew).total_seconds()
    used = services.records.used_dpop_proofs
    record = used.dump(UsedDpopProof(used_at=now))
    if not await used.add(f"{proof.jkt}\n{proof.jti}", record, max(window_ends - now, 1.0)):
        raise InvalidDpopProof("this DPoP proof was already used (jti replayed)")
