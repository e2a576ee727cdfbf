"""Forward authentication: the gateway asks, per request, whether a bearer token is good."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Config
from ..hosts import HostRegistry
from ..keys import KeyManager
from ..ops.metrics import Metrics
from ..scopes.catalog import ScopeCatalog
from ..tokens import RevocationList, TokenVerifier
from ..tokens.dpop import ProofVerifier
from ..tokens.dpop_nonce import DpopNonces
from ..tokens.dpop_replay import SeenProofs
from .authenticator import Authenticator, DenyAudit
from .dpop_check import DpopCheck
from .identity import IdentityRenderer
from .original_request import OriginalRequestReader, identity_header_names
from .responses import make_answer

__all__ = ["Authenticator", "build_authenticator"]


def build_authenticator(
    config: Config,
    hosts: HostRegistry,
    keys: KeyManager,
    revocations: RevocationList,
    metrics: Metrics,
    deny_audit: DenyAudit,
    catalog: ScopeCatalog,
    clock: Callable[[], float],
) -> Authenticator:
    names = config.proxy.identity_headers
    renderer = IdentityRenderer(names)
    verifier = TokenVerifier(
        keys,
        lambda claims: make_answer(200, renderer(claims)),
        clock_skew=config.tokens.clock_skew,
        cache_size=config.tokens.verify_cache_size,
        revocations=revocations,
        clock=clock,
    )
    reader = OriginalRequestReader(
        config.proxy.trusted_host_headers,
        identity_header_names(names.names),
    )
    metrics.gauge(
        "mcp_gatekeeper_token_cache_entries",
        "Verified tokens held in the cache",
        lambda: verifier.cached_entries,
    )
    tokens = config.tokens
    window = (tokens.dpop_proof_max_age + 2 * tokens.clock_skew).total_seconds()
    dpop = DpopCheck(
        ProofVerifier(
            max_age=tokens.dpop_proof_max_age.total_seconds(),
            leeway=tokens.clock_skew.total_seconds(),
        ),
        SeenProofs(),
        DpopNonces(lambda: keys.ring) if tokens.dpop_nonces else None,
        clock,
        window=window,
    )
    return Authenticator(
        hosts,
        reader,
        verifier,
        renderer,
        catalog,
        metrics,
        deny_audit,
        dpop=dpop,
        reject_identity_headers=config.proxy.reject_client_identity_headers,
        host_by_name=config.proxy.trusted_host_headers == "query",
        traced=config.tracing.enabled,
    )
