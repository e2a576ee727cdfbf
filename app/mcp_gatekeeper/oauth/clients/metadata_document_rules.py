"""Client ID Metadata Documents: the rules that need no network (URL, addresses, caching
lifetime, document contents). Fetching lives in ``metadata_documents.py``."""

from __future__ import annotations

import ipaddress
import re
import time
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import ValidationError

from ... import bounded_json
from .models import ClientMetadata

MAX_URL_LENGTH = 2000
# §4.4 lets the server bound the lifetime HTTP caching (RFC 9111) gives a document.
MIN_TTL, MAX_TTL, DEFAULT_TTL, ERROR_TTL = 60.0, 86_400.0, 300.0, 30.0
# RFC 3986 §2: a URI is printable ASCII without spaces, quotes, backslashes or braces.
_URI = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: embeds an IPv4 address
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnusableMetadataDocument(Exception):
    """The document at a ``client_id`` URL describes no usable client; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Result = ClientMetadata | UnusableMetadataDocument
Body = tuple[bytes, float]  # the document, and how long it may be reused


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a client identifier URL (draft §3), or ``None``."""
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if not _URI.fullmatch(url):
        return "is not a URL (only printable ASCII without spaces, RFC 3986)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    problems = {
        "must start with https://": not url.startswith("https://"),
        "must not have a fragment (#...)": "#" in url,
        "must not contain a user name or password": "@" in parts.netloc,
        "has no host or an invalid port": not parts.hostname or port == 0,
        "must have a path, e.g. https://client.example/oauth/client.json": len(parts.path) < 2,
        "must not contain . or .. path segments": any(
            unquote(segment) in (".", "..") for segment in parts.path.split("/")
        ),
    }
    return next((problem for problem, found in problems.items() if found), None)


def address_problem(address: Address) -> str | None:
    """What kind of non-public address this is (RFC 6890 special-use), or ``None`` if public."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address in IPv6 clothing reaches that IPv4 address: judge that one.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_problem(embedded)
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "special-use"


def freshness(headers: httpx.Headers) -> float:
    """How long a document may be reused (RFC 9111 §4.2.1) within our bounds; 0: not at all."""
    directives = {}
    for item in headers.get_list("cache-control", split_commas=True):
        name, _, value = item.partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0  # no-cache means "revalidate each time": without revalidation, refetch
    if "max-age" in directives:  # §4.2.1: an invalid max-age means stale (then clamped up)
        lifetime = int(directives["max-age"]) if directives["max-age"].isdigit() else 0
    elif "expires" in headers:  # §4.2.1: Expires minus Date; §5.3: invalid Expires is past
        lifetime = _http_date(headers["expires"]) - _http_date(headers.get("date", ""))
    else:
        return DEFAULT_TTL
    return min(max(float(lifetime), MIN_TTL), MAX_TTL)


def _http_date(value: str) -> int:
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError):
        # No Date: the real time (Expires is the server's wall clock, not our injected clock).
        return 0 if value else int(time.time())


def parse_document(url: str, body: bytes) -> ClientMetadata:
    """The client a fetched document describes, checked against draft §4.1 and our limits."""
    try:
        document = bounded_json.loads(body)
    except bounded_json.UnboundedJson as exc:
        raise UnusableMetadataDocument(f"the document is not JSON we read: {exc}") from None
    except ValueError:
        raise UnusableMetadataDocument("the document is not JSON") from None
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise UnusableMetadataDocument(f"the document is JSON but not an object (a {kind})")
    if document.get("client_id") != url:
        raise UnusableMetadataDocument(
            f"the document's client_id ({document.get('client_id')!r:.100}) is not exactly the URL"
            " it was fetched from; the two must be identical, character for character"
        )
    for field in ("client_name", "redirect_uris"):
        if not document.get(field):
            raise UnusableMetadataDocument(f"the document has no {field}, which is required")
    if "client_secret" in document or "client_secret_expires_at" in document:
        raise UnusableMetadataDocument("the document contains a client_secret (§4.1 forbids it)")
    # A document cannot establish a secret, so an omitted method can only mean a public client.
    method = document.setdefault("token_endpoint_auth_method", "none")
    if method != "none":
        raise UnusableMetadataDocument(
            f'token_endpoint_auth_method {method!r} is not supported: publish "none". A public'
            " document cannot share a secret (§4.1) and private_key_jwt is not implemented here"
        )
    try:
        return ClientMetadata.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "document"
        raise UnusableMetadataDocument(f"the document's {field}: {first['msg']}") from None
