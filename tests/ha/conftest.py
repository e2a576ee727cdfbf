"""One cluster per test module: Redis, three replicas, Traefik and the upstream, all real."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.ha.client import OAuthClient
from tests.ha.cluster import Cluster, running_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


@pytest.fixture
async def oauth(cluster: Cluster) -> AsyncIterator[OAuthClient]:
    """An HTTP client (with a cookie jar: the browser) speaking for the MCP host."""
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=10.0, limits=limits, trust_env=False) as http:
        yield OAuthClient(http, cluster.host)
