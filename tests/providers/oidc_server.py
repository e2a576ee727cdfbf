"""The real OpenID provider (npm oidc-provider, tests/e2e/oidc/provider.mjs) on loopback.

Started on port 0; the issuer is read from its ``READY <issuer>`` line. Accounts live in a JSON
file the provider re-reads on every lookup, so a test can change a user's groups (or delete the
user) while it runs. ``browse_to_callback`` plays the browser: it follows the IdP's redirects
(auto-login, auto-consent) until the callback URL and returns the callback's query. ``Counting``
is a real transport that records requests and can rewrite the ID token (to tamper with it).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest

from mcp_gatekeeper.config.provider import ProviderConfig
from mcp_gatekeeper.urls import add_query as with_query
from tests.integration.harness.processes import start_proc

OIDC_DIR = Path(__file__).resolve().parents[1] / "e2e" / "oidc"
INSTALL_HINT = "run scripts/install-test-deps.sh (it installs node's oidc-provider for the tests)"
CLIENT_ID = "mcp-gatekeeper"
CLIENT_SECRET = "s3cret+with/special=chars"
CALLBACK = "https://mcp.example.test/callback"
READY_TIMEOUT = 20.0
MAX_HOPS = 20


@dataclass(frozen=True)
class OidcServer:
    issuer: str
    accounts_file: Path

    def set_account(self, sub: str, **claims: Any) -> None:
        """Create or replace the account ``sub`` with ``claims`` (email, email_verified, groups)."""
        accounts = json.loads(self.accounts_file.read_text())
        accounts[sub] = claims
        self._write(accounts)

    def delete_account(self, sub: str) -> None:
        accounts = json.loads(self.accounts_file.read_text())
        accounts[sub] = None
        self._write(accounts)

    def _write(self, accounts: dict[str, Any]) -> None:
        # Write-then-rename: the provider never reads a half-written file.
        tmp = self.accounts_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(accounts))
        tmp.replace(self.accounts_file)

    def config(self, **overrides: Any) -> ProviderConfig:
        data: dict[str, Any] = {
            "name": "oidc",
            "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "issuerURL": self.issuer,
        }
        data.update(overrides)
        return ProviderConfig.model_validate(data)


@contextmanager
def run_oidc_server(
    workdir: Path,
    *,
    token_auth_method: str = "client_secret_basic",  # noqa: S107 (a method name)
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[OidcServer]:
    """Start provider.mjs, yield it once READY, and stop it whatever happens."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not installed: {INSTALL_HINT}")
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"tests/e2e/oidc/node_modules/oidc-provider is missing: {INSTALL_HINT}")
    accounts = workdir / "accounts.json"
    accounts.write_text("{}")
    log = workdir / "oidc-provider.log"
    env = {
        "HOST": "127.0.0.1",
        "PORT": "0",
        "AUTO_LOGIN": "1",
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "REDIRECT_URIS": CALLBACK,
        "ACCOUNTS_FILE": str(accounts),
        "TOKEN_AUTH_METHOD": token_auth_method,
        **(extra_env or {}),
    }
    with start_proc([node, str(OIDC_DIR / "provider.mjs")], log, env=env) as proc:
        deadline = time.monotonic() + READY_TIMEOUT
        issuer = None
        while issuer is None:
            ready = [ln for ln in log.read_text().splitlines() if ln.startswith("READY ")]
            if ready:
                issuer = ready[0].split()[1]
            elif proc.returncode is not None or time.monotonic() > deadline:
                pytest.fail(proc.describe("the OIDC provider did not print READY"))
            else:
                time.sleep(0.02)
        yield OidcServer(issuer, accounts)


async def browse_to_callback(
    authorize_url: str, *, login_hint: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Follow the IdP's redirects as a browser would; the callback's query parameters.

    ``login_hint`` picks the account the auto-login signs in (the user typing their name).
    """
    url = with_query(authorize_url, {"login_hint": login_hint, **(extra or {})})
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as browser:
        for _ in range(MAX_HOPS):
            if url.startswith(CALLBACK):
                return dict(parse_qsl(urlsplit(url).query))
            response = await browser.get(url)
            if response.status_code not in (302, 303):
                raise AssertionError(f"IdP answered {response.status_code}: {response.text[:500]}")
            url = urljoin(str(response.url), response.headers["location"])
    raise AssertionError(f"no callback after {MAX_HOPS} redirects")


class Counting(httpx.AsyncBaseTransport):
    """Real HTTP, counting requests by path and optionally rewriting the token response."""

    def __init__(self, rewrite_id_token: Callable[[str], str] | None = None) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.rewrite = rewrite_id_token

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/token"]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        if self.rewrite is None or request.url.path != "/token" or response.status_code != 200:
            return response
        body = json.loads(await response.aread())
        await response.aclose()
        body["id_token"] = self.rewrite(body["id_token"])
        return httpx.Response(200, json=body)

    async def aclose(self) -> None:
        await self.inner.aclose()
