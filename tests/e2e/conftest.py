"""Fixtures of the end-to-end tests: one stack per gateway for the whole session, started when a
test first asks for it, and a fresh headless browser (with its request log) per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from typing import Protocol

import pytest

from tests.e2e.mcp_client import HeadlessBrowser, Recorder
from tests.e2e.stack import ALLOWED_GROUP, Stack, run_stack
from tests.tls import HttpsServer, Pki, make_pki

#: Short enough to exercise in a test: the access token's lifetime (the minimum allowed), and
#: how often a refresh asks the IdP about the user again.
TOKENS = {"accessTokenTTL": "10s", "recheckInterval": "1s"}

StackFor = Callable[[str], Stack]


class BrowserFor(Protocol):
    def __call__(self, stack: Stack, user: str, *, allowed: bool = True) -> HeadlessBrowser: ...


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def documents(pki: Pki) -> Iterator[HttpsServer]:
    """An https server on loopback for client ID metadata documents (trusted via the test CA)."""
    with HttpsServer(pki) as server:
        yield server


@pytest.fixture(scope="session")
def stack_for(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[StackFor]:
    stacks: dict[str, Stack] = {}
    with ExitStack() as running:

        def get(gateway: str) -> Stack:
            if gateway not in stacks:
                workdir = tmp_path_factory.mktemp(f"e2e-{gateway}")
                stacks[gateway] = running.enter_context(
                    run_stack(gateway, workdir, pki.ca_file, **TOKENS)
                )
            return stacks[gateway]

        yield get


@pytest.fixture
async def browser_for() -> AsyncIterator[BrowserFor]:
    """Makes a browser that signs in as a user of the allowed group (or as given)."""
    browsers: list[HeadlessBrowser] = []

    def make(stack: Stack, user: str, *, allowed: bool = True) -> HeadlessBrowser:
        if allowed:
            stack.idp.set_account(
                user, email=f"{user}@example.test", email_verified=True, groups=[ALLOWED_GROUP]
            )
        browser = HeadlessBrowser(Recorder(), stack.idp.issuer + "/auth", user)
        browsers.append(browser)
        return browser

    yield make
    for browser in browsers:
        await browser.aclose()
