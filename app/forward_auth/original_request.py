"""What the gateway tells us about the request it is deciding on.

Gateways describe the original request in different header families
(``research/gateway-contracts.md`` §0 rule 7). Only the family the operator names in
``proxy.trustedHostHeaders`` is read, because only that one is set *and overwritten* by their
gateway; any other header is client-controlled. A trusted header that appears twice, or that
holds a list, is treated as absent: fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config.model import TrustedHostHeaders


@dataclass(frozen=True, slots=True)
class OriginalRequest:
    host: str | None
    method: str
    authorization: bytes | None
    #: A header that only we may set (an identity header) came from the client.
    spoofed_identity_header: bool
    #: 2026-07-28 transport headers; ``None`` if absent, ``""`` if repeated (unreadable).
    mcp_method: str | None
    mcp_name: str | None
    #: The gateway forwarded the request body (Envoy with_request_body, Traefik forwardBody).
    has_body: bool


def identity_header_names(names: tuple[str, ...]) -> frozenset[bytes]:
    """Lower-case names plus the underscore aliases that WSGI-style servers fold onto them."""
    result = set()
    for name in names:
        lowered = name.lower().encode("ascii")
        result.add(lowered)
        result.add(lowered.replace(b"-", b"_"))
    return frozenset(result)


class OriginalRequestReader:
    def __init__(self, family: TrustedHostHeaders, identity_headers: frozenset[bytes]) -> None:
        self._family = family
        self._identity_headers = identity_headers
        self._host_header = {
            "host": b"host",
            "x-forwarded": b"x-forwarded-host",
            "x-original-url": b"x-original-url",
        }[family]
        self._method_header = {
            "host": None,
            "x-forwarded": b"x-forwarded-method",
            "x-original-url": b"x-original-method",
        }[family]

    def read(self, method: str, headers: list[tuple[bytes, bytes]]) -> OriginalRequest:
        """One pass over the raw ASGI headers (names are already lower-case)."""
        host_values: list[bytes] = []
        method_value: bytes | None = None
        authorization: bytes | None = None
        authorization_count = 0
        spoofed = has_body = False
        mcp_method: str | None = None
        mcp_name: str | None = None
        for name, value in headers:
            if name == self._host_header:
                host_values.append(value)
            elif name == b"authorization":
                authorization = value
                authorization_count += 1
            elif name == self._method_header:
                method_value = value
            elif name in self._identity_headers:
                spoofed = True
            elif name == b"mcp-method":
                mcp_method = "" if mcp_method is not None else value.decode("latin-1")
            elif name == b"mcp-name":
                mcp_name = "" if mcp_name is not None else value.decode("latin-1")
            elif name == b"content-length":
                has_body = value.strip() not in (b"0", b"")
            elif name == b"transfer-encoding":
                has_body = True
        if method_value is not None:
            method = method_value.decode("latin-1").upper()
        return OriginalRequest(
            host=self._host(host_values),
            method=method,
            # Two Authorization headers are ambiguous; treat as none (RFC 6750 §2: one method).
            authorization=authorization if authorization_count == 1 else None,
            spoofed_identity_header=spoofed,
            mcp_method=mcp_method,
            mcp_name=mcp_name,
            has_body=has_body,
        )

    def _host(self, values: list[bytes]) -> str | None:
        if len(values) != 1:
            return None
        value = values[0].decode("latin-1")
        if self._family == "x-original-url":
            try:
                return urlsplit(value).netloc or None
            except ValueError:
                return None
        return value
