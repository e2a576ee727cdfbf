"""Fixtures: the real OIDC provider (one per test session and worker) and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from .oidc_server import OidcServer, run_oidc_server


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    # One provider for the session: it starts in ~0.4 s, and tests keep to their own accounts.
    with run_oidc_server(tmp_path_factory.mktemp("oidc")) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
