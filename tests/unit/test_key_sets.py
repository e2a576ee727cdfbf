"""A signer's keys fetched over HTTP (a loopback server): failures remembered, the last good keys
kept through an outage, bounded bodies, discovery documents held to their issuer, and nothing
about the fetch told to the client."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from mcp_gatekeeper.oauth.assertions import UNAVAILABLE, AssertionRejected, KeySet
from tests.flows.workload_signer import ServiceAccountSigner
from tests.support import FakeClock

SIGNER = ServiceAccountSigner()
KEYS = json.dumps(SIGNER.jwks()).encode()


class Signer:
    """Answers each path with what a test set; counts the requests."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                status, body = owner.routes.get(self.path, (404, b""))
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def signer() -> Iterator[Signer]:
    served = Signer()
    thread = threading.Thread(target=served.server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()
    thread.join()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


async def refusal(keys: KeySet, kid: str | None = SIGNER.kid) -> str:
    with pytest.raises(AssertionRejected) as refused:
        await keys.key(kid)
    return str(refused.value)


async def test_a_failed_fetch_is_remembered_for_everyone(
    signer: Signer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """20 requests while the signer answers 503: one fetch, and no address in the answer."""
    signer.routes["/jwks"] = (503, b"")
    clock = FakeClock()
    keys = KeySet(http, jwks_uri=signer.url + "/jwks", clock=clock)
    answers = await asyncio.gather(*(refusal(keys) for _ in range(20)))
    assert set(answers) == {UNAVAILABLE} and signer.hits == 1
    assert "127.0.0.1" not in UNAVAILABLE
    assert f"the JWKS at {signer.url}/jwks answered 503" in caplog.text  # the operator's detail
    clock.advance(31)
    signer.routes["/jwks"] = (200, KEYS)
    assert (await keys.key(SIGNER.kid))["kid"] == SIGNER.kid and signer.hits == 2


async def test_the_last_good_keys_serve_through_an_outage(
    signer: Signer, http: httpx.AsyncClient
) -> None:
    signer.routes["/jwks"] = (200, KEYS)
    clock = FakeClock()
    keys = KeySet(http, jwks_uri=signer.url + "/jwks", clock=clock)
    assert (await keys.key(SIGNER.kid))["kid"] == SIGNER.kid
    signer.routes["/jwks"] = (500, b"")
    clock.advance(301)  # stale: fetched again, which fails; the keys held still verify
    assert (await keys.key(SIGNER.kid))["kid"] == SIGNER.kid and signer.hits == 2
    clock.advance(3300)  # an hour after the last good fetch: no longer
    assert await refusal(keys) == UNAVAILABLE


async def test_an_endless_jwks_is_cut_off(
    signer: Signer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    padded = {**SIGNER.jwks(), "padding": "x" * 70_000}
    signer.routes["/jwks"] = (200, json.dumps(padded).encode())
    keys = KeySet(http, jwks_uri=signer.url + "/jwks", clock=FakeClock())
    assert await refusal(keys) == UNAVAILABLE
    assert "is over 65536 bytes" in caplog.text


@pytest.mark.parametrize(
    ("document", "logged"),
    [
        ({"issuer": "https://other.example", "jwks_uri": "{url}/jwks"}, "names the issuer"),
        ({"issuer": "{url}", "jwks_uri": "http://10.0.0.1/jwks"}, "names no https jwks_uri"),
        ({"issuer": "{url}"}, "names no https jwks_uri"),
    ],
)
async def test_a_discovery_document_is_held_to_its_issuer(
    signer: Signer,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    document: dict[str, str],
    logged: str,
) -> None:
    caplog.set_level(logging.WARNING)
    filled = {name: value.format(url=signer.url) for name, value in document.items()}
    signer.routes["/.well-known/openid-configuration"] = (200, json.dumps(filled).encode())
    signer.routes["/jwks"] = (200, KEYS)
    keys = KeySet(http, discovery_issuer=signer.url, clock=FakeClock())
    assert await refusal(keys) == UNAVAILABLE
    assert logged in caplog.text and signer.hits == 1


async def test_a_discovery_document_of_its_issuer_names_the_keys(
    signer: Signer, http: httpx.AsyncClient
) -> None:
    document = {"issuer": signer.url, "jwks_uri": signer.url + "/jwks"}
    signer.routes["/.well-known/openid-configuration"] = (200, json.dumps(document).encode())
    signer.routes["/jwks"] = (200, KEYS)
    keys = KeySet(http, discovery_issuer=signer.url, clock=FakeClock())
    assert (await keys.key(SIGNER.kid))["kid"] == SIGNER.kid
