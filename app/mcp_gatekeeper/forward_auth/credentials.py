"""The upstream credential header of a 200 answer (``proxy.hosts[].upstream``).

Only an allowed request gets here: scopes and policies decided first; and only a token of a
user's login gets the user's credential (``tokens/origin.py``: a machine's or workload's token
whose ``sub`` equals a user's gets the 403). A cached credential is
joined to the verified token's answer without I/O (``answer``; the joined answer is kept per
user and host, so a repeated request builds nothing). On a miss ``answer`` returns a
``CredentialMiss``: the HTTP protocol then hands the request to the async route, which fetches
once (``complete``). When no credential can be had the answer is a 403 naming the upstream API
and the host: never a stale credential, never a 5xx (``research/gateway-contracts.md`` §0).
The credential is in no log line and no metric label: only the reason a fetch failed is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..hosts import McpHost
from ..ops.metrics import Metrics
from ..services import Services as UpstreamServices
from ..tokens import AccessClaims
from ..tokens.origin import machine_grant
from ..upstream.cache import Credential, CredentialCache, CredentialUnavailable
from ..upstream.fetcher import CredentialFetcher
from .responses import Answer, forbidden, make_answer

DenyAudit = Callable[..., None]


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialMiss(Answer):
    """Not an answer to send: the request must take the async path and fetch a credential."""

    host: McpHost
    claims: AccessClaims
    rendered: Answer
    mcp_client: bool


_MISS_PLACEHOLDER = (0, (), b"", b"")


class UpstreamAnswers:
    def __init__(
        self,
        fetcher: CredentialFetcher,
        cache: CredentialCache,
        metrics: Metrics,
        deny_audit: DenyAudit,
    ) -> None:
        self._fetcher = fetcher
        self.cache = cache
        self._metrics = metrics
        self._deny_audit = deny_audit
        #: (host, subject) -> the last token answer, credential and the two joined; only for
        #: credentials the cache holds, and dropped with them (no credential bytes outlive it).
        self._joined: dict[tuple[str, str], tuple[Answer, Credential, Answer]] = {}
        cache.on_forget = self._forget_joined
        self._refusals: dict[str, Answer] = {}

    def answer(
        self, host: McpHost, claims: AccessClaims, rendered: Answer, mcp_client: bool
    ) -> Answer:
        """The 200 with the credential if one is cached and fresh; else a ``CredentialMiss``."""
        grant = machine_grant(claims.payload)
        if grant is not None:
            return self._not_a_user(host, claims, grant, mcp_client)
        key = (host.host, claims.identity.subject)
        credential = self.cache.fresh(key)
        if credential is None:
            return CredentialMiss(
                *_MISS_PLACEHOLDER,
                host=host,
                claims=claims,
                rendered=rendered,
                mcp_client=mcp_client,
            )
        self._metrics.count_decision(host.host, "allowed")
        return self._join(key, host, rendered, credential)

    async def complete(self, miss: CredentialMiss) -> Answer:
        host, claims, rendered = miss.host, miss.claims, miss.rendered
        subject = claims.identity.subject
        key = (host.host, subject)
        try:
            credential = await self.cache.fetch(key, lambda: self._fetcher.make(host, subject))
        except CredentialUnavailable as exc:
            self._metrics.count_decision(host.host, "upstream_unavailable")
            self._deny_audit(
                "request_denied",
                host=host.host,
                result="upstream_unavailable",
                sub=subject,
                client_id=claims.client_id,
                reason=exc.reason,
            )
            refusal = self._refusal(host)
            return refusal.as_mcp if miss.mcp_client and refusal.as_mcp else refusal
        self._metrics.count_decision(host.host, "allowed")
        return self._join(key, host, rendered, credential)

    def _join(
        self, key: tuple[str, str], host: McpHost, rendered: Answer, credential: Credential
    ) -> Answer:
        joined = self._joined.get(key)
        if joined is not None and joined[0] is rendered and joined[1] is credential:
            return joined[2]
        name = _header_name(host)
        # The token answer's own copy of that header (none today) gives way; content-length is
        # added again by make_answer.
        headers = tuple(
            header for header in rendered.headers if header[0] not in (name, b"content-length")
        )
        answer = make_answer(200, (*headers, (name, credential.value)))
        if self.cache.fresh(key) is credential:
            self._joined[key] = (rendered, credential, answer)
        return answer

    def _forget_joined(self, key: tuple[str, str]) -> None:
        self._joined.pop(key, None)

    def _not_a_user(
        self, host: McpHost, claims: AccessClaims, grant: str, mcp_client: bool
    ) -> Answer:
        """A machine's or workload's token: its ``sub`` may equal a user's, but it never gets a
        user's credential (``tokens/origin.py``)."""
        self._metrics.count_decision(host.host, "upstream_unavailable")
        self._deny_audit(
            "request_denied",
            host=host.host,
            result="upstream_unavailable",
            sub=claims.identity.subject,
            client_id=claims.client_id,
            reason=f"a token of grant {grant} is not a user's: no user credential is handed out",
        )
        refusal = self._refusal(host)
        return refusal.as_mcp if mcp_client and refusal.as_mcp else refusal

    def _refusal(self, host: McpHost) -> Answer:
        refusal = self._refusals.get(host.host)
        if refusal is None:
            upstream = host.config.upstream
            api = upstream.name if upstream is not None else "the upstream API"
            refusal = forbidden(
                f"{host.host} acts with your {api} account, and no {api} credential could be "
                "obtained for you right now. Try again shortly; if it persists, sign in again."
            )
            self._refusals[host.host] = refusal
        return refusal


def _header_name(host: McpHost) -> bytes:
    upstream = host.config.upstream
    return b"authorization" if upstream is None else upstream.header.lower().encode()


def upstream_answers(
    services: UpstreamServices, metrics: Metrics, deny_audit: DenyAudit
) -> UpstreamAnswers:
    """Built by ``create_app`` once the store, provider and HTTP client exist."""
    fetcher = CredentialFetcher(
        services.records.provider_grants,
        services.records.connected_accounts,
        services.provider,
        services.http,
        services.clock,
        services.config.tokens.max_session_age.total_seconds(),
    )
    return UpstreamAnswers(fetcher, CredentialCache(services.clock), metrics, deny_audit)
