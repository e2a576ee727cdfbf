"""The refusal of a rate-limited request, in the shape the gateway in front can pass on.

Envoy (and Envoy Gateway, Istio), Traefik and Caddy pass a 429 and its ``Retry-After`` to the
client. nginx and ingress-nginx accept only 401 and 403 from an auth service and turn anything
else into a 500 (``research/gateway-contracts.md`` §0 rule 3), so behind them the refusal is a
403 whose description says how long to wait. ``rateLimits.refusal: auto`` tells the two apart by
``proxy.trustedHostHeaders`` (query and x-original-url are the nginx family).

Answers are built on first use and kept per host, wait and limit: a client hammering a limit
gets a ready answer, like every other refusal on the hot path.
"""

from __future__ import annotations

from ..config.model import TrustedHostHeaders
from ..config.rate_limits import RefusalStatus
from ..hosts import McpHost
from .responses import Answer, refusal

#: Gateways that turn a 429 into a 500.
NGINX_FAMILY: frozenset[TrustedHostHeaders] = frozenset({"query", "x-original-url"})
#: Answers kept at once (hosts x limits x distinct waits); beyond it the book starts over.
MAX_KEPT = 4096
ERROR = "rate_limited"


def status_for(setting: RefusalStatus, family: TrustedHostHeaders) -> int:
    if setting == "auto":
        return 403 if family in NGINX_FAMILY else 429
    return int(setting)


class RefusalBook:
    def __init__(self, family: TrustedHostHeaders) -> None:
        self._family = family
        self._kept: dict[tuple[str, str, str, int], Answer] = {}

    def refusal(self, host: McpHost, who: str, limit: str, retry_after: int) -> Answer:
        retry_after = max(1, retry_after)
        key = (host.host, who, limit, retry_after)
        answer = self._kept.get(key)
        if answer is None:
            if len(self._kept) >= MAX_KEPT:
                self._kept.clear()
            answer = self._kept[key] = self._build(host, who, limit, retry_after)
        return answer

    def _build(self, host: McpHost, who: str, limit: str, retry_after: int) -> Answer:
        limits = host.config.rate_limits
        status = status_for(limits.refusal if limits else "auto", self._family)
        whose = "your" if who == "user" else "this client's"
        description = (
            f"Too many requests: {whose} limit at {host.host} is {limit}; "
            f"try again in {retry_after} second{'s' if retry_after != 1 else ''}"
        )
        headers = (
            (b"retry-after", str(retry_after).encode()),
            (b"content-type", b"application/json"),
            (b"cache-control", b"no-store"),
            (b"access-control-allow-origin", b"*"),
            (b"access-control-expose-headers", b"Retry-After"),
        )
        return refusal(status, headers, ERROR, description)
