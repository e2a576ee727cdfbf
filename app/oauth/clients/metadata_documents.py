"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, sections as in -00):
a ``client_id`` that is an https URL names a JSON document about the client, fetched on demand.

* Query strings are accepted: §3's SHOULD NOT advises clients; it is no reason to refuse one.
  A path of ``/`` is refused (MCP asks for a path; later drafts call ``/`` NOT RECOMMENDED).
* SSRF (§6.5): every address the name resolves to must be public, and we connect to one of *those*
  addresses, keeping the name for SNI, the certificate check and ``Host``: no DNS rebinding window.
* Refusals are remembered for ``ERROR_TTL`` so a bad ``client_id`` sent in a loop cannot make us
  fetch in a loop. §4.4 says errors MUST NOT be cached: we keep no document, only the refusal.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from ...config.model import MetadataDocumentsConfig
from .models import ClientMetadata

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2000
MAX_ENTRIES = 1000
# §4.4 lets the server bound the lifetime HTTP caching (RFC 9111) gives a document.
MIN_TTL, MAX_TTL, DEFAULT_TTL, ERROR_TTL = 60.0, 86_400.0, 300.0, 30.0
#: Addresses tried when a name has several (``localhost`` is often ::1 and 127.0.0.1).
MAX_ADDRESSES = 3
# RFC 3986 §2: a URI is printable ASCII without spaces, quotes, backslashes or braces.
_URI = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: embeds an IPv4 address
# Identity encoding: a compressed body could expand far beyond maxBytes within one chunk.
_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}
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
        document = json.loads(body)
    except (ValueError, RecursionError):
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


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()  # the system trust store the operator manages
    try:
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:  # a missing file's error does not name it
        raise ValueError(f"metadataDocuments.caFile {ca_file!r} cannot be loaded: {exc}") from exc
    return context


def _describe(exc: BaseException) -> str:
    """An httpx error for an operator; an untrusted certificate is the usual surprise."""
    cause: BaseException | None = exc
    for _ in range(10):  # httpx wraps httpcore's error, which wraps ssl's
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"its TLS certificate is not trusted ({cause.verify_message})"
        cause = cause and (cause.__cause__ or cause.__context__)
    return str(exc) or type(exc).__name__


class MetadataDocuments:
    """Fetches, checks and caches client metadata documents (one instance per process).

    With an injected ``transport`` (tests) names are not resolved: the transport decides where
    requests go. IP literals and ``localhost`` are still refused unless private addresses are.
    """

    max_entries = MAX_ENTRIES

    def __init__(
        self,
        config: MetadataDocumentsConfig,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._resolve = transport is None
        self._timeout = config.timeout.total_seconds()
        self._http = httpx.AsyncClient(
            transport=transport
            or httpx.AsyncHTTPTransport(verify=_ssl_context(config.ca_file), trust_env=False),
            follow_redirects=False,  # later drafts: MUST NOT follow redirects
            trust_env=False,  # a proxy would resolve the name itself, past our address check
            timeout=self._timeout,
        )
        self._cache: OrderedDict[str, tuple[float, Result]] = OrderedDict()  # oldest use first
        self._fetching: dict[str, asyncio.Task[Result]] = {}

    async def get(self, url: str) -> ClientMetadata:
        """The checked client metadata at ``url``; ``UnusableMetadataDocument`` says why not."""
        if not self._config.enabled:
            raise UnusableMetadataDocument("client ID metadata documents are turned off here")
        problem = url_problem(url)
        if problem:
            raise UnusableMetadataDocument(f"the client_id URL {problem}")
        entry = self._cache.get(url)
        if entry is not None and entry[0] > self._clock():
            self._cache.move_to_end(url)
            result = entry[1]
        else:
            task = self._fetching.get(url)
            if task is None:  # concurrent requests for one URL share one fetch
                task = self._fetching[url] = asyncio.create_task(self._fetch_and_remember(url))
            # A caller that gives up must not cancel the fetch the others are waiting for.
            result = await asyncio.shield(task)
        if isinstance(result, UnusableMetadataDocument):
            raise UnusableMetadataDocument(result.reason)
        return result.model_copy(deep=True)

    async def aclose(self) -> None:
        fetching = list(self._fetching.values())
        for task in fetching:
            task.cancel()
        await asyncio.gather(*fetching, return_exceptions=True)
        await self._http.aclose()

    async def _fetch_and_remember(self, url: str) -> Result:
        """Never raises: the result (or refusal) is shared with every waiting caller."""
        result: Result
        try:
            result, ttl = await self._fetch(url)
        except UnusableMetadataDocument as exc:
            log.info("client metadata document %s refused: %s", url, exc.reason)
            result, ttl = exc, ERROR_TTL
        except Exception as exc:  # a bug must not reach every caller waiting on this URL
            log.exception("client metadata document %s: unexpected failure", url)
            result, ttl = UnusableMetadataDocument(f"unexpected failure: {exc!r}"), ERROR_TTL
        finally:
            self._fetching.pop(url, None)
        self._cache.pop(url, None)
        if ttl > 0:
            self._cache[url] = (self._clock() + ttl, result)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return result

    async def _fetch(self, url: str) -> tuple[ClientMetadata, float]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            async with asyncio.timeout(self._timeout):  # the whole fetch, DNS and body included
                addresses = await self._addresses(host, parts.port or 443)
                body, ttl = await self._download(parts, addresses)
        except (TimeoutError, httpx.TimeoutException):
            raise UnusableMetadataDocument(f"{host} took over {self._timeout:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
            raise UnusableMetadataDocument(f"cannot fetch from {host}: {_describe(exc)}") from None
        return parse_document(url, body), ttl

    async def _addresses(self, host: str, port: int) -> list[Address | None]:
        """The checked addresses to connect to; ``[None]``: the transport connects by name."""
        private_ok = self._config.allow_private_addresses
        try:
            addresses: list[Address] = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = []
            if host == "localhost" or host.endswith(".localhost"):  # RFC 6761 §6.3: loopback
                addresses = [ipaddress.IPv4Address("127.0.0.1")]
            if self._resolve and (private_ok or not addresses):
                try:
                    infos = await asyncio.get_running_loop().getaddrinfo(
                        host, port, type=socket.SOCK_STREAM
                    )
                except OSError as exc:  # socket.gaierror
                    raise UnusableMetadataDocument(f"{host} cannot be resolved ({exc})") from None
                addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        for address in [] if private_ok else addresses:
            kind = address_problem(address)
            if kind:
                raise UnusableMetadataDocument(
                    f"{host} resolves to {address}, a {kind} address; documents are fetched"
                    " only from public addresses (SSRF protection)"
                )
        return list(addresses) if self._resolve else [None]

    async def _download(self, parts: SplitResult, addresses: list[Address | None]) -> Body:
        failure: Exception = UnusableMetadataDocument(f"{parts.hostname} has no address")
        for address in addresses[:MAX_ADDRESSES]:
            try:
                return await self._download_from(parts, address)
            except httpx.ConnectError as exc:
                if "certificate" in _describe(exc):
                    raise
                failure = exc  # try the name's next address, as a browser would
        raise failure

    async def _download_from(self, parts: SplitResult, address: Address | None) -> Body:
        host, url = parts.hostname or "", urlunsplit(parts)
        headers, extensions = dict(_HEADERS), {}
        if address is not None and str(address) != host:
            # Connect to the address we checked; the name still drives SNI, the certificate check
            # and Host, so the request is what a by-name request would be.
            literal = f"[{address}]" if address.version == 6 else str(address)
            url = urlunsplit(parts._replace(netloc=f"{literal}:{parts.port or 443}"))
            headers["Host"] = parts.netloc
            extensions["sni_hostname"] = host
        limit = self._config.max_bytes
        too_large = f"the document is larger than {limit} bytes (metadataDocuments.maxBytes)"
        async with self._http.stream("GET", url, headers=headers, extensions=extensions) as answer:
            if answer.status_code != 200:  # redirects too: a client_id is the document's own URL
                where = f" to {answer.headers['location']}" if "location" in answer.headers else ""
                raise UnusableMetadataDocument(
                    f"{host} answered {answer.status_code}{where}; a document is served with 200 OK"
                    + (" (redirects are not followed)" if answer.is_redirect else "")
                )
            if answer.headers.get("content-encoding", "identity") != "identity":
                raise UnusableMetadataDocument(f"{host} compressed the document unasked")
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > limit:  # stop reading: the rest may be endless (§6.6)
                    raise UnusableMetadataDocument(too_large)
            return bytes(body), freshness(answer.headers)
