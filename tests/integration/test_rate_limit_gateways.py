"""A rate-limited request through every real gateway: the client gets a refusal it can act on.

Envoy, Traefik and Caddy pass our 429 and its Retry-After through; nginx as ingress-nginx turns
any status but 401/403 into a 500, so there (``trustedHostHeaders`` query) the refusal is a 403.
Nobody ever sees a 500, and the MCP server never sees the refused request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mcp_gatekeeper.config import Config
from tests.integration.harness import (
    GATEWAY_NAMES,
    TRUSTED_HOST_HEADERS,
    EchoUpstream,
    echo_upstream,
    run_gateway,
)
from tests.integration.service import Service, running_service
from tests.support import mint

pytestmark = pytest.mark.gateway

A = "a.example.test"
LIMIT = 2
#: What the client gets once over the limit, per gateway.
REFUSED = {"ingress-nginx": 403, "envoy": 429, "traefik": 429, "caddy": 429}


@dataclass
class Stack:
    name: str
    service: Service
    upstream: EchoUpstream
    client: httpx.Client

    def call(self, token: str) -> httpx.Response:
        headers = {
            "host": A,
            "content-type": "application/json",
            "authorization": f"Bearer {token}",
        }
        body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get"}}'
        return self.client.post("/mcp", headers=headers, content=body)


@pytest.fixture(scope="module", params=GATEWAY_NAMES)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name: str = request.param
    limits = {"perUser": {"requests": {"limit": LIMIT, "window": "1h"}}}
    scopes = [{"name": "read", "tools": ["get"]}]
    config = Config.model_validate(
        {
            "proxy": {
                "hosts": [{"host": A, "scopes": scopes, "rateLimits": limits}],
                "trustedHostHeaders": TRUSTED_HOST_HEADERS[name],
            }
        }
    )
    workdir: Path = tmp_path_factory.mktemp(f"limits-{name}")
    with (
        echo_upstream() as upstream,
        running_service(config) as service,
        run_gateway(
            name, auth_port=service.port, upstream_port=upstream.port, hosts=[A], workdir=workdir
        ) as gateway,
        httpx.Client(base_url=gateway.url, timeout=10, trust_env=False) as client,
    ):
        yield Stack(name, service, upstream, client)


def test_over_the_limit_the_client_gets_a_refusal_its_gateway_passes_on(stack: Stack) -> None:
    token = mint(stack.service.app, A, scopes=("read",), now=time.time())
    assert [stack.call(token).status_code for _ in range(LIMIT)] == [200] * LIMIT
    refused = stack.call(token)
    assert refused.status_code == REFUSED[stack.name], refused.text
    if refused.status_code == 429:
        assert 1700 <= int(refused.headers["retry-after"]) <= 1800  # 2 per hour: 30 min each
        assert refused.json()["error"] == "rate_limited"
        assert "2 requests per 1h" in refused.json()["error_description"]
    other = mint(stack.service.app, A, subject="bob", scopes=("read",), now=time.time())
    assert stack.call(other).status_code == 200, "another user is not held back"
