"""``/authenticate``: is this bearer token good for this MCP host?

A raw ASGI endpoint mounted as a plain Starlette route: no Request/Response objects, no
dependency injection, one pass over the headers, prebuilt answers. It depends only on keys,
tokens, hosts and the gateway header family (``research/perf.md`` §3b: the framework costs more
than the token check).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from ..hosts import HostRegistry, McpHost
from ..ops.metrics import UNKNOWN_HOST as UNKNOWN_HOST_LABEL
from ..ops.metrics import Metrics
from ..tokens import InvalidToken, TokenVerifier
from .identity import IdentityRenderer
from .original_request import OriginalRequestReader
from .responses import (
    FAILED_CLOSED,
    IDENTITY_HEADER_REJECTED,
    UNKNOWN_HOST,
    Answer,
    HostAnswers,
    make_answer,
)

log = logging.getLogger(__name__)

DenyAudit = Callable[..., None]


class Authenticator:
    def __init__(
        self,
        hosts: HostRegistry,
        reader: OriginalRequestReader,
        verifier: TokenVerifier[Answer],
        renderer: IdentityRenderer,
        metrics: Metrics,
        deny_audit: DenyAudit,
        *,
        reject_identity_headers: bool,
    ) -> None:
        self._hosts = hosts
        self._reader = reader
        self._verifier = verifier
        self._metrics = metrics
        self._deny_audit = deny_audit
        self._reject_identity_headers = reject_identity_headers
        self._answers = {host.host: HostAnswers.for_host(host) for host in hosts.hosts}
        self._preflight = make_answer(200, renderer.anonymous())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            answer = self.decide(scope["method"], scope["headers"])
        except Exception:
            # Fail closed, and never with a 5xx: Envoy's failure mode could turn it into "allow".
            log.exception("unexpected error in /authenticate")
            answer = FAILED_CLOSED
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})

    def decide(self, method: str, headers: list[tuple[bytes, bytes]]) -> Answer:
        original = self._reader.read(method, headers)
        host = self._hosts.get(original.host)
        if host is None:
            self._deny(UNKNOWN_HOST_LABEL, "unknown_host", method=original.method)
            return UNKNOWN_HOST
        if original.spoofed_identity_header and self._reject_identity_headers:
            self._deny(host.host, "identity_header_rejected", method=original.method)
            return IDENTITY_HEADER_REJECTED
        answers = self._answers[host.host]
        token = _bearer(original.authorization)
        if token is None:
            if original.method == "OPTIONS" and original.authorization is None:
                self._metrics.count_decision(host.host, "preflight")
                return self._preflight
            self._metrics.count_decision(host.host, "no_token")
            return answers.missing_token
        return self._check_token(token, host, answers)

    def _check_token(self, token: str, host: McpHost, answers: HostAnswers) -> Answer:
        try:
            verified = self._verifier.verify(token, host)
        except InvalidToken as exc:
            self._deny(host.host, "invalid_token", reason=exc.reason)
            return answers.invalid_token
        self._metrics.count_decision(host.host, "allowed")
        return verified.rendered

    def _deny(self, host: str, result: str, **fields: object) -> None:
        self._metrics.count_decision(host, result)
        self._deny_audit("request_denied", host=host, result=result, **fields)


def _bearer(authorization: bytes | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (scheme case-insensitive, RFC 6750 §2.1)."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    token = token.strip(b" ")
    if not token:
        return None
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:
        return None
