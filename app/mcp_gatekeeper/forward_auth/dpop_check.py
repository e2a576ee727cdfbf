"""DPoP at ``/authenticate`` (RFC 9449 §7): a bound token only with a proof of its key.

What the proof is checked against is what the gateway says the original request was: its
method (the family's method header, or Envoy's own request line), and its URL, built from the
host as configured (scheme and name come from configuration, never from a header) and the path
the gateway states (``X-Original-URL``, ``X-Forwarded-Uri``, or the path after Envoy's prefix;
the host's MCP path when none is stated). Proofs are remembered per process (``dpop_replay``):
no store round trip on this path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit

from ..hosts import McpHost
from ..paths import AUTHENTICATE_PATH
from ..tokens import AccessClaims
from ..tokens.dpop import InvalidProof, ProofVerifier
from ..tokens.dpop_nonce import DpopNonces
from ..tokens.dpop_replay import SeenProofs
from .original_request import OriginalRequest
from .responses import Answer, dpop_refusal

Scheme = Literal["bearer", "dpop"]


class DpopCheck:
    def __init__(
        self,
        verifier: ProofVerifier,
        seen: SeenProofs,
        nonces: DpopNonces | None,
        clock: Callable[[], float],
        *,
        window: float,
    ) -> None:
        self._verifier = verifier
        self._seen = seen
        self._nonces = nonces
        self._clock = clock
        self._window = window

    def refusal(
        self,
        host: McpHost,
        original: OriginalRequest,
        scheme: Scheme,
        token: str,
        claims: AccessClaims,
    ) -> tuple[str, Answer] | None:
        """Why this request may not use this token, and the answer to give; None if it may."""
        if claims.jkt is None:
            if scheme == "dpop":  # RFC 9449 §7.1: the DPoP scheme is for bound tokens only
                return "dpop_unbound", dpop_refusal(
                    host, "invalid_token", "This token is not DPoP-bound"
                )
            if host.config.dpop == "required":
                why = f"{host.host} accepts only DPoP-bound tokens: sign in again with DPoP"
                return "dpop_required", dpop_refusal(host, "invalid_token", why)
            return None
        if scheme != "dpop":
            why = "This token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof"
            return "dpop_as_bearer", dpop_refusal(host, "invalid_token", why)
        if not original.dpop:
            why = "Send exactly one DPoP proof header with a DPoP-bound token"
            return "dpop_proof_missing", dpop_refusal(host, "invalid_dpop_proof", why)
        now = self._clock()
        try:
            proof = self._verifier.verify(
                original.dpop.decode("latin-1"),
                method=original_method(original),
                url=original_url(host, original),
                now=now,
                access_token=token,
            )
        except InvalidProof as exc:
            return "dpop_proof_invalid", dpop_refusal(host, "invalid_dpop_proof", str(exc))
        if proof.jkt != claims.jkt:
            why = "The DPoP proof is signed with another key than the token is bound to"
            return "dpop_key_mismatch", dpop_refusal(host, "invalid_dpop_proof", why)
        if self._nonces is not None and not self._nonces.accepts(proof.nonce, now):
            why = "Sign the DPoP proof with the nonce in the DPoP-Nonce header"
            nonce = self._nonces.current(now)
            return "dpop_nonce", dpop_refusal(host, "use_dpop_nonce", why, nonce)
        first = self._seen.first_use(proof.jkt, proof.jti, window=self._window, now=now)
        if first is None:
            why = "Too many DPoP proofs are in flight for this key: retry with a new proof"
            return "dpop_proofs_full", dpop_refusal(host, "invalid_dpop_proof", why)
        if not first:
            return "dpop_replayed", dpop_refusal(host, "invalid_dpop_proof", "DPoP proof replayed")
        return None


def _prefixed(original: OriginalRequest) -> bool:
    """Envoy's family: the original request line follows the prefix, stated by Envoy itself
    (a header the client might have slipped through ``allowed_headers`` never overrides it)."""
    return original.target.startswith(AUTHENTICATE_PATH + "/")


def original_method(original: OriginalRequest) -> str:
    """Envoy's own request line, or the one method the gateway states (Caddy asks with GET and
    states the original in X-Forwarded-Method); "" when unknown, which no proof matches."""
    return original.method if _prefixed(original) else original.stated_method


def original_url(host: McpHost, original: OriginalRequest) -> str:
    """The URL the client sent its request to, as far as the gateway tells; "" if unknowable."""
    scheme = urlsplit(host.resource).scheme
    path = host.path
    if _prefixed(original):
        path = original.target[len(AUTHENTICATE_PATH) :].split("?", 1)[0]
    elif original.original_uri is not None:
        stated = original.original_uri.decode("latin-1")
        # X-Original-URL is absolute; X-Forwarded-Uri is a path with its query.
        path = urlsplit(stated).path if "://" in stated else stated.split("?", 1)[0]
    if not path.startswith("/"):
        return ""
    return f"{scheme}://{host.host}{path}"
