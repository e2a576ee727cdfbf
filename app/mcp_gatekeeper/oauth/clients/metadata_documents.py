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
import logging
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from ...config.model import MetadataDocumentsConfig
from .metadata_document_rules import (
    ERROR_TTL,
    Address,
    Body,
    Result,
    UnusableMetadataDocument,
    address_problem,
    freshness,
    parse_document,
    url_problem,
)
from .models import ClientMetadata

log = logging.getLogger(__name__)

MAX_ENTRIES = 1000
#: Addresses tried when a name has several (``localhost`` is often ::1 and 127.0.0.1).
MAX_ADDRESSES = 3
# Identity encoding: a compressed body could expand far beyond maxBytes within one chunk.
_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


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
        if transport is None:
            # No kept-alive connections: the pool keys them by address, so one made with another
            # name's SNI and certificate could otherwise carry this name's request.
            transport = httpx.AsyncHTTPTransport(
                verify=_ssl_context(config.ca_file),
                trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        self._http = httpx.AsyncClient(
            transport=transport,
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
                where = (
                    f" to {answer.headers['location']:.200}" if "location" in answer.headers else ""
                )
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
