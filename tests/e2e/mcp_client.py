"""The real MCP SDK client (``mcp.Client`` over streamable HTTP with ``OAuthClientProvider``),
logged in headlessly: tokens in memory, a browser that follows the login's redirects, and a log of
every request the client and the browser sent (with the answer's status), in order.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import httpx
import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from tests.flows.driver import hidden_inputs, ticked_scopes

REDIRECT_URI = "http://127.0.0.1:3030/callback"  # nothing listens: the browser stops before it
MAX_HOPS = 25


@dataclass(frozen=True)
class Seen:
    method: str
    url: str
    status: int
    challenge: str | None = None  # WWW-Authenticate of the answer
    #: The request's ``Mcp-Method`` / ``Mcp-Name`` headers (lower-case names), as sent.
    mcp_headers: tuple[tuple[str, str], ...] = ()

    @property
    def step(self) -> str:
        return f"{self.method} {urlsplit(self.url).path} {self.status}"


@dataclass
class Recorder:
    """Requests in the order sent, by the SDK's HTTP client (event hook) and by the browser."""

    seen: list[Seen] = field(default_factory=list)

    async def on_response(self, response: httpx2.Response) -> None:
        request = response.request
        challenge = response.headers.get("www-authenticate")
        mcp = tuple(
            (name, request.headers[name])
            for name in ("mcp-method", "mcp-name")
            if name in request.headers
        )
        self.seen.append(
            Seen(request.method, str(request.url), response.status_code, challenge, mcp)
        )

    def steps(self, origin: str) -> list[str]:
        return [s.step for s in self.seen if s.url.startswith(origin + "/")]


@dataclass
class MemoryStorage:
    """The SDK's TokenStorage, in memory."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class LoginRefused(Exception):
    """The login ended on a page instead of back at the client (refusal, error)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code} at {response.url}: {response.text[:300]}")
        self.response = response


FORM = re.compile(r'<form method="(get|post)" action="([^"]*)"')


class HeadlessBrowser:
    """The SDK's redirect and callback handlers: a person who signs in and clicks Allow.

    It follows redirects and submits the one form of a page: the demo provider's sign-in button,
    or Allow on the consent page. ``login_hint`` is added to the IdP's authorization request
    (``idp_authorize``), whose auto-login signs that account in: the person typing their name.
    One browser keeps its cookies across logins. Scopes in ``untick`` are unticked on the
    consent page before Allow (a person who grants less than the client asked for). The login
    stops at ``redirect_uri``, the client's callback, without requesting it.
    """

    def __init__(
        self, recorder: Recorder, idp_authorize: str | None = None, login_hint: str = ""
    ) -> None:
        self.recorder = recorder
        self.redirect_uri = REDIRECT_URI
        self.idp_authorize = idp_authorize
        self.login_hint = login_hint
        self.result: AuthorizationCodeResult | None = None
        self.consent_pages: list[str] = []
        self.untick: set[str] = set()
        self.http = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=15)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if url.split("?")[0] == self.idp_authorize:
            url += "&" + urlencode({"login_hint": self.login_hint})
        response = await self.http.request(method, url, **kwargs)
        self.recorder.seen.append(Seen(method, url, response.status_code))
        return response

    async def _submit(self, page: httpx.Response, method: str, action: str) -> httpx.Response:
        fields: dict[str, str | list[str]] = dict(hidden_inputs(page.text))
        if "csrf" in fields:  # the consent page: approve what it preselects, as a person would
            self.consent_pages.append(page.text)
            fields["decision"] = "approve"
            fields["scope"] = [s for s in ticked_scopes(page.text) if s not in self.untick]
        target = urljoin(str(page.url), action)
        if method == "get":
            return await self._send("GET", f"{target}?{urlencode(fields, doseq=True)}")
        return await self._send("POST", target, data=fields)

    async def redirect_handler(self, authorization_url: str) -> None:
        self.result = None
        response = await self._send("GET", authorization_url)
        for _ in range(MAX_HOPS):
            form = FORM.search(response.text) if response.status_code == 200 else None
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(self.redirect_uri):
                    query = dict(parse_qsl(urlsplit(location).query))
                    self.result = AuthorizationCodeResult(
                        code=query["code"], state=query.get("state"), iss=query.get("iss")
                    )
                    return
                response = await self._send("GET", location)
            elif form is not None:
                response = await self._submit(response, form[1], form[2])
            else:
                raise LoginRefused(response)
        raise AssertionError(f"the login did not come back after {MAX_HOPS} redirects")

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None, "the redirect handler found no authorization code"
        return self.result


def client_metadata() -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name="e2e notes client",
        redirect_uris=[AnyUrl(REDIRECT_URI)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )


@dataclass
class Session:
    client: Client
    auth: OAuthClientProvider
    storage: MemoryStorage

    async def call(self, tool: str, **arguments: Any) -> Any:
        result = await self.client.call_tool(tool, arguments)
        assert not result.is_error, result.content
        return result.structured_content


@asynccontextmanager
async def mcp_session(
    url: str,
    browser: HeadlessBrowser,
    storage: MemoryStorage | None = None,
    *,
    client_metadata_url: str | None = None,
) -> AsyncIterator[Session]:
    """A connected SDK client; it logs in through ``browser`` when the server asks."""
    storage = storage if storage is not None else MemoryStorage()
    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=client_metadata(),
        storage=storage,
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
        client_metadata_url=client_metadata_url,
    )
    hooks = {"response": [browser.recorder.on_response]}
    async with (
        httpx2.AsyncClient(auth=auth, event_hooks=hooks, trust_env=False, timeout=15) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield Session(client, auth, storage)
