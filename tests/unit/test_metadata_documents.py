"""Client ID Metadata Documents fetched from a real HTTPS server on loopback (tests/tls.py)."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import ipaddress
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcp_gatekeeper.config.model import MetadataDocumentsConfig
from mcp_gatekeeper.oauth.clients.metadata_document_rules import (
    UnusableMetadataDocument,
    address_problem,
)
from mcp_gatekeeper.oauth.clients.metadata_documents import MetadataDocuments
from tests.support import FakeClock
from tests.tls import HttpsServer, Pki, Reply, make_pki

Factory = Callable[..., MetadataDocuments]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server(pki: Pki) -> Iterator[HttpsServer]:
    with HttpsServer(pki) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make(pki: Pki, clock: FakeClock) -> AsyncIterator[Factory]:
    """Builds ``MetadataDocuments`` that trust the test CA; closes them all afterwards."""
    made: list[MetadataDocuments] = []

    def factory(
        transport: httpx.AsyncBaseTransport | None = None, **config: Any
    ) -> MetadataDocuments:
        settings = {"allowPrivateAddresses": True, "caFile": str(pki.ca_file), **config}
        documents = MetadataDocuments(
            MetadataDocumentsConfig.model_validate(settings), clock=clock, transport=transport
        )
        made.append(documents)
        return documents

    yield factory
    for documents in made:
        await documents.aclose()


@pytest.fixture
def documents(make: Factory) -> MetadataDocuments:
    return make()


def base(server: HttpsServer, host: str = "localhost") -> str:
    return f"https://{host}:{server.port}"


def document(url: str, **fields: Any) -> bytes:
    content: dict[str, Any] = {
        "client_id": url,
        "client_name": "Test Client",
        "redirect_uris": ["http://127.0.0.1:3030/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "mcp:tools",
    }
    content.update(fields)
    return json.dumps({k: v for k, v in content.items() if v is not None}).encode()


def serve(server: HttpsServer, path: str = "/client.json", **reply: Any) -> str:
    """Serves a good document at ``path`` (unless ``body`` is given); returns its URL."""
    url = base(server) + path
    reply.setdefault("body", document(url))
    server.routes[path] = Reply(**reply)
    return url


async def refusal(documents: MetadataDocuments, url: str) -> str:
    with pytest.raises(UnusableMetadataDocument) as caught:
        await documents.get(url)
    return caught.value.reason


async def test_good_document_is_parsed(documents: MetadataDocuments, server: HttpsServer) -> None:
    """A valid document becomes ClientMetadata; the request names the host and asks for JSON."""
    url = serve(server)
    metadata = await documents.get(url)
    assert metadata.client_name == "Test Client"
    assert metadata.redirect_uris == ["http://127.0.0.1:3030/callback"]
    assert metadata.token_endpoint_auth_method == "none"
    assert metadata.grant_types == ["authorization_code", "refresh_token"]
    assert metadata.scope == "mcp:tools"
    headers = {name.lower(): value for name, value in server.request_headers[0].items()}
    assert headers["host"] == f"localhost:{server.port}"
    assert headers["accept"] == "application/json"


async def test_ip_literal_url_is_fetched(documents: MetadataDocuments, server: HttpsServer) -> None:
    """A URL naming 127.0.0.1 works too (the certificate has that IP address)."""
    url = base(server, "127.0.0.1") + "/client.json"
    server.routes["/client.json"] = Reply(body=document(url))
    assert (await documents.get(url)).client_name == "Test Client"


async def test_omitted_auth_method_means_none(
    documents: MetadataDocuments, server: HttpsServer
) -> None:
    """Without token_endpoint_auth_method the client is public: a document has no secret."""
    url = base(server) + "/client.json"
    serve(server, body=document(url, token_endpoint_auth_method=None))
    assert (await documents.get(url)).token_endpoint_auth_method == "none"


async def test_query_string_is_accepted(documents: MetadataDocuments, server: HttpsServer) -> None:
    """A query is discouraged (draft §3 SHOULD NOT) but allowed; it is part of the client_id."""
    url = serve(server, "/client.json?v=2")
    assert (await documents.get(url)).client_name == "Test Client"


async def test_connects_to_the_checked_address(
    documents: MetadataDocuments, server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS is asked once: a second, rebound answer (192.0.2.1) is never used to connect."""
    answers = iter(["127.0.0.1", "192.0.2.1", "192.0.2.1"])
    lookups: list[str] = []

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    url = f"https://client.test:{server.port}/client.json"
    server.routes["/client.json"] = Reply(body=document(url))
    assert (await documents.get(url)).client_name == "Test Client"
    assert lookups == ["client.test"]
    assert server.request_headers[0]["Host"] == f"client.test:{server.port}"


async def test_second_call_is_cached(documents: MetadataDocuments, server: HttpsServer) -> None:
    """The second request for a URL is answered from the cache."""
    url = serve(server)
    await documents.get(url)
    await documents.get(url)
    assert server.hits["/client.json"] == 1


async def test_result_is_a_copy(documents: MetadataDocuments, server: HttpsServer) -> None:
    """Changing a returned object does not change what the cache holds."""
    url = serve(server)
    (await documents.get(url)).redirect_uris.append("https://evil.example/cb")
    assert (await documents.get(url)).redirect_uris == ["http://127.0.0.1:3030/callback"]


async def test_concurrent_calls_share_one_fetch(
    documents: MetadataDocuments, server: HttpsServer
) -> None:
    """Requests for a URL being fetched wait for that fetch instead of starting their own."""
    url = serve(server, delay=0.2)
    results = await asyncio.gather(*(documents.get(url) for _ in range(5)))
    assert {metadata.client_name for metadata in results} == {"Test Client"}
    assert server.hits["/client.json"] == 1


@pytest.mark.parametrize(
    ("headers", "fresh_until", "lifetime"),
    [
        ({"Cache-Control": "public, max-age=120"}, 119, 121),
        ({"Cache-Control": "max-age=5"}, 59, 61),  # clamped up to a minute
        ({"Cache-Control": "max-age=31536000"}, 86_399, 86_401),  # clamped down to a day
        ({}, 299, 301),  # no caching headers: five minutes
        ({"Expires": "0"}, 59, 61),  # an invalid Expires is in the past: the minimum
    ],
)
async def test_lifetime_follows_cache_headers(
    documents: MetadataDocuments,
    server: HttpsServer,
    clock: FakeClock,
    headers: dict[str, str],
    fresh_until: float,
    lifetime: float,
) -> None:
    """Cache-Control max-age decides the lifetime, within [60 s, 24 h]; 5 min by default."""
    url = serve(server, headers=headers)
    await documents.get(url)
    clock.advance(fresh_until)
    await documents.get(url)
    assert server.hits["/client.json"] == 1
    clock.advance(lifetime - fresh_until)
    await documents.get(url)
    assert server.hits["/client.json"] == 2


async def test_expires_is_honoured(
    documents: MetadataDocuments, server: HttpsServer, clock: FakeClock
) -> None:
    """Without max-age, Expires minus the server's Date is the lifetime."""
    expires = email.utils.formatdate(time.time() + 600, usegmt=True)
    url = serve(server, headers={"Expires": expires})
    await documents.get(url)
    clock.advance(590)
    await documents.get(url)
    assert server.hits["/client.json"] == 1
    clock.advance(20)
    await documents.get(url)
    assert server.hits["/client.json"] == 2


@pytest.mark.parametrize("directive", ["no-store", "no-cache", "max-age=600, no-store"])
async def test_uncacheable_document_is_fetched_each_time(
    documents: MetadataDocuments, server: HttpsServer, directive: str
) -> None:
    """no-store and no-cache documents are fetched again for every request."""
    url = serve(server, headers={"Cache-Control": directive})
    await documents.get(url)
    await documents.get(url)
    assert server.hits["/client.json"] == 2


async def test_cache_is_bounded(make: Factory, server: HttpsServer) -> None:
    """Past max_entries the least recently used document is forgotten."""
    documents = make()
    documents.max_entries = 2
    a, b, c = (serve(server, f"/{name}.json") for name in "abc")
    for url in (a, b, a, c):  # b is now the least recently used
        await documents.get(url)
    await documents.get(a)
    await documents.get(b)
    assert (server.hits["/a.json"], server.hits["/b.json"]) == (1, 2)


async def test_404_is_refused_and_remembered_briefly(
    documents: MetadataDocuments, server: HttpsServer, clock: FakeClock
) -> None:
    """A 404 is refused; the refusal is reused for 30 s, then the URL is tried again."""
    url = base(server) + "/missing.json"
    assert "answered 404" in await refusal(documents, url)
    clock.advance(29)
    await refusal(documents, url)
    assert server.hits["/missing.json"] == 1
    clock.advance(2)
    await refusal(documents, url)
    assert server.hits["/missing.json"] == 2


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"client_id": "https://other.example/client.json"}, "is not exactly the URL"),
        ({"client_name": None}, "no client_name"),
        ({"redirect_uris": None}, "no redirect_uris"),
        ({"redirect_uris": "http://127.0.0.1/cb"}, "redirect_uris"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "'client_secret_basic' is not"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "private_key_jwt is not implemented"),
        ({"client_secret": "s3cret"}, "client_secret"),
    ],
)
async def test_invalid_document_is_refused(
    documents: MetadataDocuments, server: HttpsServer, fields: dict[str, Any], expected: str
) -> None:
    """Documents breaking draft §4.1 or lacking required fields are refused, saying why."""
    url = base(server) + "/client.json"
    serve(server, body=document(url, **fields))
    assert expected in await refusal(documents, url)


async def test_client_id_must_match_character_for_character(
    documents: MetadataDocuments, server: HttpsServer
) -> None:
    """A client_id differing only in letter case is another client (RFC 3986 §6.2.1 compare)."""
    url = base(server) + "/client.json"
    serve(server, body=document(url.replace("localhost", "LOCALHOST")))
    assert "is not exactly the URL" in await refusal(documents, url)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>hello</html>", "not JSON"),
        (b"[1, 2]", "not an object (a list)"),
        (b"[" * 3000 + b"]" * 3000, "not JSON"),
    ],
)
async def test_non_object_body_is_refused(
    make: Factory, server: HttpsServer, body: bytes, expected: str
) -> None:
    """Only a JSON object can be a client metadata document."""
    documents = make(maxBytes=8192)
    url = serve(server, body=body)
    assert expected in await refusal(documents, url)


async def test_too_large_document_is_aborted(
    documents: MetadataDocuments, server: HttpsServer
) -> None:
    """Reading stops at maxBytes: the server is cut off mid-body (it had 64 MiB to send)."""
    url = serve(server, endless=64 * 1024 * 1024)
    assert "larger than 5120 bytes" in await refusal(documents, url)
    server.stop()  # joins the handler: it saw the connection close under it
    assert server.errors and all(isinstance(exc, OSError) for exc in server.errors)


async def test_redirect_is_not_followed(documents: MetadataDocuments, server: HttpsServer) -> None:
    """A redirect is refused (later drafts: MUST NOT follow); its target is never fetched."""
    target = serve(server)
    url = serve(server, "/moved", status=302, headers={"Location": target}, body=b"")
    reason = await refusal(documents, url)
    assert "answered 302" in reason and "not followed" in reason
    assert server.hits["/client.json"] == 0


async def test_slow_server_times_out(make: Factory, server: HttpsServer) -> None:
    """A server slower than the configured timeout is refused; nothing from httpx escapes."""
    documents = make(timeout="200ms")
    url = serve(server, delay=10)
    started = time.monotonic()
    assert "took over 0.2 s" in await refusal(documents, url)
    assert time.monotonic() - started < 2


async def test_untrusted_certificate_is_refused(make: Factory, server: HttpsServer) -> None:
    """Without caFile the test CA is unknown, so the server's certificate is refused."""
    documents = make(caFile=None)
    url = serve(server)
    assert "TLS certificate is not trusted" in await refusal(documents, url)
    assert server.hits["/client.json"] == 0


async def test_unreachable_port_is_refused(make: Factory, server: HttpsServer) -> None:
    """A closed port is a refusal that names the host, not an httpx exception."""
    documents = make()
    url = serve(server)
    server.stop()
    assert "cannot fetch from localhost" in await refusal(documents, url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost/client.json", "must start with https://"),
        ("HTTPS://localhost/client.json", "must start with https://"),
        ("https://localhost", "must have a path"),
        ("https://localhost/", "must have a path"),
        ("https://localhost/client.json#frag", "must not have a fragment"),
        ("https://localhost/client.json#", "must not have a fragment"),
        ("https://user@localhost/client.json", "user name or password"),
        ("https://user:pw@localhost/client.json", "user name or password"),
        ("https://localhost/a/../client.json", ". or .. path segments"),
        ("https://localhost/a/%2E/client.json", ". or .. path segments"),
        ("https://localhost/client json", "not a URL"),
        ("https://localhost/clïent.json", "not a URL"),
        ("https://localhost:99999/client.json", "not a valid URL"),
        ("https://[::1/client.json", "not a valid URL"),
        ("https://localhost/" + "a" * 2000, "longer than 2000 characters"),
    ],
)
async def test_bad_client_id_url_is_refused(
    documents: MetadataDocuments, server: HttpsServer, url: str, expected: str
) -> None:
    """URLs breaking draft §3 are refused before any request is made."""
    assert expected in await refusal(documents, url)
    assert not server.hits


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"])
async def test_loopback_is_refused_unless_allowed(
    make: Factory, server: HttpsServer, host: str
) -> None:
    """Loopback URLs are refused when private addresses are not allowed; no request is made."""
    documents = make(allowPrivateAddresses=False)
    url = base(server, host) + "/client.json"
    server.routes["/client.json"] = Reply(body=document(url))
    reason = await refusal(documents, url)
    assert "loopback address" in reason and "SSRF" in reason
    assert not server.hits


@pytest.mark.parametrize(
    "host", ["10.1.2.3", "192.168.0.1", "169.254.169.254", "[fd00::1]", "[::ffff:10.0.0.1]"]
)
async def test_private_ip_literal_is_refused(make: Factory, host: str) -> None:
    """Private and link-local literals (cloud metadata included) are refused without a request."""
    documents = make(allowPrivateAddresses=False)
    reason = await refusal(documents, f"https://{host}/client.json")
    assert "address; documents are fetched only from public addresses" in reason


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address under test, not a bind)
        ("100.64.0.1", "special-use"),  # carrier-grade NAT
        ("192.0.2.1", "private"),  # TEST-NET-1
        ("240.0.0.1", "private"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("64:ff9b::808:808", None),  # NAT64 around a public address
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    """Every special-use range (RFC 6890) is named; public addresses pass."""
    assert address_problem(ipaddress.ip_address(address)) == kind


async def test_disabled_refuses_everything(make: Factory, server: HttpsServer) -> None:
    """With metadata documents turned off, no document is fetched."""
    documents = make(enabled=False)
    assert "turned off" in await refusal(documents, serve(server))
    assert not server.hits


async def test_injected_transport_connects_by_name(make: Factory) -> None:
    """An injected transport gets the URL as written: names are not resolved or pinned."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=document(str(request.url)))

    documents = make(transport=httpx.MockTransport(answer), allowPrivateAddresses=False)
    url = "https://client.invalid/client.json"
    assert (await documents.get(url)).client_name == "Test Client"
    assert seen == [url]
    assert "loopback" in await refusal(documents, "https://localhost/client.json")


async def test_compressed_body_is_refused(make: Factory) -> None:
    """We ask for an identity body: decompressing could exceed maxBytes within one chunk."""
    url = "https://client.invalid/client.json"
    gzipped = gzip.compress(document(url))

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=gzipped)

    documents = make(transport=httpx.MockTransport(answer))
    assert "compressed the document unasked" in await refusal(documents, url)


async def test_unexpected_failure_becomes_a_refusal(make: Factory) -> None:
    """Even a bug below us reaches callers as UnusableMetadataDocument, never raw."""

    def answer(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom")

    documents = make(transport=httpx.MockTransport(answer))
    reason = await refusal(documents, "https://client.invalid/client.json")
    assert "unexpected failure: RuntimeError('boom')" in reason


def test_unreadable_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    """A caFile that cannot be loaded is reported with its path when the service starts."""
    config = MetadataDocumentsConfig.model_validate({"caFile": str(tmp_path / "nope.pem")})
    with pytest.raises(ValueError, match=r"nope\.pem"):
        MetadataDocuments(config)
