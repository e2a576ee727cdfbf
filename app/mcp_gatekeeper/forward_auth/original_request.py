"""What the gateway tells us about the request it is deciding on.

Gateways describe the original request in different header families
(``research/gateway-contracts.md`` §0 rule 7). Only the family the operator names in
``proxy.trustedHostHeaders`` is read, because only that one is set *and overwritten* by their
gateway; any other header is client-controlled. A trusted value that appears twice, or that
holds a list, is treated as absent: fail closed.

``query`` is the one family that is not a header: ingress-nginx's ``auth-url`` may name nginx
variables, and ``?host=$host&end=1`` carries the host nginx *routed on* (the request line's
host for an absolute-form request), where its ``X-Original-URL`` repeats the client's ``Host``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..config.model import TrustedHostHeaders
from ..http_body import declared_length
from .tool_calls import MAX_BODY_BYTES

#: Methods that never carry a JSON-RPC request (streamable HTTP: GET opens a stream, DELETE
#: ends a session). Any other method may call a tool.
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
#: ``X-Original-URL`` as ingress-nginx writes it: one absolute http(s) URL, nothing around it.
_ORIGINAL_URL = re.compile(r"https?://([^/?#\s,]+)[^\s,]*", re.ASCII)
#: ``auth-url: …/authenticate?host=$host&end=1``, with $host a lower-case name or address.
_ROUTED_HOST_QUERY = re.compile(rb"host=([a-z0-9.\-]+|\[[0-9a-f:.]+\])&end=1")


class OriginalRequest(NamedTuple):
    """Built per request: a named tuple is the cheapest immutable record to create."""

    host: str | None
    #: The original method as the trusted family states it (preflight detection).
    method: str
    #: Some method the gateway or the request line names may carry a JSON-RPC body: a method
    #: header that says GET does not hide a POST the request line shows, and vice versa.
    may_call_tools: bool
    authorization: bytes | None
    #: A header that only we may set (an identity header) came from the client.
    spoofed_identity_header: bool
    #: 2026-07-28 transport headers; ``None`` if absent, ``""`` if repeated (unreadable).
    mcp_method: str | None
    mcp_name: str | None
    mcp_protocol_version: str | None
    #: The gateway forwarded the request body (Envoy with_request_body, Traefik forwardBody).
    has_body: bool
    #: Its Content-Length is past what is inspected: refused without reading it.
    body_too_large: bool = False
    #: An MCP streamable-HTTP client (it accepts text/event-stream): refusals as JSON-RPC.
    mcp_client: bool = False
    #: RFC 9449 proof header; ``b""`` if repeated (unusable).
    dpop: bytes | None = None
    #: What the gateway states the original request URI was (``X-Original-URL`` or
    #: ``X-Forwarded-Uri`` by family); ``None`` if absent or repeated.
    original_uri: bytes | None = None
    #: The auth request's own target: Envoy's family puts the original path after the prefix.
    target: str = ""
    #: The one method the gateway's method header states ("" if none or several).
    stated_method: str = ""


def identity_header_names(names: tuple[str, ...]) -> frozenset[bytes]:
    """Lower-case names plus the underscore aliases that WSGI-style servers fold onto them."""
    result = set()
    for name in names:
        lowered = name.lower().encode("ascii")
        result.add(lowered)
        result.add(lowered.replace(b"-", b"_"))
    return frozenset(result)


def _once(current: str | None, value: bytes) -> str:
    """A header that must appear once: a second copy makes it unreadable (``""``)."""
    return "" if current is not None else value.decode("latin-1")


class OriginalRequestReader:
    def __init__(self, family: TrustedHostHeaders, identity_headers: frozenset[bytes]) -> None:
        self._family = family
        self._identity_headers = identity_headers
        self._host_header = {
            "host": b"host",
            "x-forwarded": b"x-forwarded-host",
            "x-original-url": b"x-original-url",
            "query": None,
        }[family]
        # The header that states the original method, when the auth request's own method is
        # not it (nginx and Caddy always ask with GET). Caddy passes Host but states the method
        # in X-Forwarded-Method, so the ``host`` family reads it too, only to be stricter.
        self._method_header = {
            "host": b"x-forwarded-method",
            "x-forwarded": b"x-forwarded-method",
            "x-original-url": b"x-original-method",
            "query": b"x-original-method",
        }[family]
        # Where the original URI is stated (DPoP's htu); the x-original-url family reads it from
        # its host header. Envoy's family states none: its path follows the prefix instead.
        self._uri_header = {
            "host": b"x-forwarded-uri",
            "x-forwarded": b"x-forwarded-uri",
            "x-original-url": None,
            "query": b"x-original-url",
        }[family]

    def read(
        self,
        method: str,
        headers: list[tuple[bytes, bytes]],
        query_string: bytes = b"",
        target: str = "",
    ) -> OriginalRequest:
        """One pass over the raw ASGI headers (names are already lower-case)."""
        host_values: list[bytes] = []
        uri_values: list[bytes] = []
        dpop: bytes | None = None
        stated_methods: list[bytes] = []
        authorization: bytes | None = None
        authorization_count = 0
        spoofed = has_body = body_too_large = mcp_client = False
        mcp_method: str | None = None
        mcp_name: str | None = None
        mcp_version: str | None = None
        for name, value in headers:
            if name == self._host_header:
                host_values.append(value)
            elif name == b"authorization":
                authorization = value
                authorization_count += 1
            elif name == self._method_header:
                stated_methods.append(value)
            elif name in self._identity_headers:
                spoofed = True
            elif name == b"mcp-method":
                mcp_method = _once(mcp_method, value)
            elif name == b"mcp-name":
                mcp_name = _once(mcp_name, value)
            elif name == b"mcp-protocol-version":
                mcp_version = _once(mcp_version, value)
            elif name == b"content-length":
                has_body = value.strip() not in (b"0", b"")
                body_too_large = (declared_length(value) or 0) > MAX_BODY_BYTES
            elif name == b"transfer-encoding":
                has_body = True
            elif name == b"accept":
                mcp_client = b"text/event-stream" in value
            elif name == b"dpop":
                dpop = value if dpop is None else b""
            elif name == self._uri_header:
                uri_values.append(value)
        stated: list[str] = []
        if stated_methods:  # no comprehension frame on the usual request without one
            stated = [value.decode("latin-1").strip().upper() for value in stated_methods]
        if self._family == "host":
            method = method.upper()
            may_call_tools = method not in _BODYLESS_METHODS or not _BODYLESS_METHODS.issuperset(
                stated
            )
        else:
            # The auth request's own method is the gateway's (nginx and Traefik ask with GET):
            # without exactly one stated method the original is unknown, so no preflight, and
            # it may call tools.
            method = stated[0] if len(stated) == 1 else ""
            may_call_tools = method not in _BODYLESS_METHODS
        host = self._host(query_string) if self._family == "query" else self._host_of(host_values)
        return OriginalRequest(
            host=host,
            method=method,
            may_call_tools=may_call_tools,
            # Two Authorization headers are ambiguous; treat as none (RFC 6750 §2: one method).
            authorization=authorization if authorization_count == 1 else None,
            spoofed_identity_header=spoofed,
            mcp_method=mcp_method,
            mcp_name=mcp_name,
            mcp_protocol_version=mcp_version,
            has_body=has_body,
            body_too_large=body_too_large,
            mcp_client=mcp_client,
            dpop=dpop,
            original_uri=_single(host_values if self._uri_header is None else uri_values),
            target=target,
            stated_method=stated[0] if len(stated) == 1 else "",
        )

    def _host_of(self, values: list[bytes]) -> str | None:
        if len(values) != 1:
            return None
        value = values[0].decode("latin-1")
        if self._family == "x-original-url":
            # One absolute URL; a list ("https://a/mcp, https://b/mcp") or anything around the
            # URL is refused, not split the way one parser or another would.
            match = _ORIGINAL_URL.fullmatch(value)
            return match.group(1) if match else None
        return value

    @staticmethod
    def _host(query_string: bytes) -> str | None:
        # Exactly "host=<name>&end=1", raw: nginx writes $host as it is, and a client whose Host
        # reached a wildcard or catch-all server may have put "%61", "&host=…" or "#" in it.
        # The "&end=1" after it shows nothing was added or cut off (a "#" ends the query).
        match = _ROUTED_HOST_QUERY.fullmatch(query_string)
        return match.group(1).decode("ascii") if match else None


def _single(values: list[bytes]) -> bytes | None:
    return values[0] if len(values) == 1 else None
