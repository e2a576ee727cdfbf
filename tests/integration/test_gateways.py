"""/authenticate behind real gateways on loopback, each configured as it is deployed.

nginx rendered as ingress-nginx renders ``auth-url``, Envoy ``ext_authz`` (the data plane of Envoy
Gateway and Istio), Traefik ForwardAuth and Caddy ``forward_auth``; a real echo upstream shows
what the MCP server would receive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcp_gatekeeper.config import Config
from tests.integration.harness import (
    GATEWAY_NAMES,
    TRUSTED_HOST_HEADERS,
    EchoUpstream,
    Gateway,
    echo_upstream,
    run_gateway,
)
from tests.integration.service import Service, running_service
from tests.support import mint

pytestmark = pytest.mark.gateway

A, B = "a.example.test", "b.example.test"
PRM_A = "https://a.example.test/.well-known/oauth-protected-resource/mcp"


@dataclass
class Stack:
    gateway: Gateway
    service: Service
    upstream: EchoUpstream
    client: httpx.Client

    def token(self, host: str, **kwargs: Any) -> str:
        return mint(self.service.app, host, now=kwargs.pop("now", time.time()), **kwargs)

    def call(self, host: str, token: str | None = None, **headers: str) -> httpx.Response:
        sent = {"host": host, "content-type": "application/json", **headers}
        if token:
            sent["authorization"] = f"Bearer {token}"
        body = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
        return self.client.post("/mcp?session=abc", headers=sent, content=body)


def upstream_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """The headers the upstream echo saw, names lower-cased, duplicates kept."""
    assert response.status_code == 200, response.text
    return [(name.lower(), value) for name, value in response.json()["headers"]]


@pytest.fixture(scope="module", params=GATEWAY_NAMES)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name: str = request.param
    config = Config.model_validate(
        {
            "proxy": {
                "hosts": [{"host": A, "scopes": [{"name": "read", "tools": ["get"]}]}, {"host": B}],
                "trustedHostHeaders": TRUSTED_HOST_HEADERS[name],
            }
        }
    )
    workdir: Path = tmp_path_factory.mktemp(name)
    with (
        echo_upstream() as upstream,
        running_service(config) as service,
        run_gateway(
            name, auth_port=service.port, upstream_port=upstream.port, hosts=[A, B], workdir=workdir
        ) as gateway,
        httpx.Client(base_url=gateway.url, timeout=10) as client,
    ):
        yield Stack(gateway, service, upstream, client)


def test_no_token_reaches_the_client_as_the_discovery_challenge(stack: Stack) -> None:
    """The MCP client sees 401 and the exact WWW-Authenticate, through the gateway."""
    response = stack.call(A)
    assert response.status_code == 401
    assert response.headers.get_list("www-authenticate") == [
        f'Bearer resource_metadata="{PRM_A}", scope="read"'
    ]


def test_valid_token_reaches_upstream_with_identity(stack: Stack) -> None:
    """The MCP server gets each identity header once, with the token's values, and the body."""
    response = stack.call(A, stack.token(A, scopes=("read",)))
    seen = upstream_headers(response)
    # Nobody acts for alice: the actor header is empty (nginx and Caddy drop empty headers).
    identity = [
        (n, v)
        for n, v in seen
        if n.startswith("x-auth-request-")
        and n != "x-auth-request-redirect"
        and (n, v) != ("x-auth-request-actor", "")
    ]
    assert sorted(identity) == sorted(
        [
            ("x-auth-request-user", "alice"),
            ("x-auth-request-email", "alice@example.test"),
            ("x-auth-request-groups", "eng,ops"),
            ("x-auth-request-scopes", "read"),
        ]
    )
    assert response.json()["body"].startswith('{"jsonrpc"')


@pytest.mark.parametrize(
    "spoofed",
    [
        "X-Auth-Request-User",
        "X_Auth_Request_User",
        "X-Auth-Request-Groups",
        "X-Auth-Request-Actor",
        "X_Auth_Request_Actor",
    ],
)
def test_client_identity_headers_never_reach_upstream(stack: Stack, spoofed: str) -> None:
    """A client-sent identity header is refused, or replaced by ours; never passed on."""
    response = stack.call(A, stack.token(A), **{spoofed: "mallory"})
    if response.status_code == 403:
        return  # the gateway showed us the header and we refused the request
    assert all("mallory" not in value for _, value in upstream_headers(response))


def test_client_copy_of_an_empty_identity_header_never_reaches_upstream(stack: Stack) -> None:
    """A user without groups: a client's X-Auth-Request-Groups must not fill the gap."""
    response = stack.call(
        A, stack.token(A, groups=(), scopes=()), **{"X-Auth-Request-Groups": "admins"}
    )
    if response.status_code == 403:
        return
    assert all("admins" not in value for _, value in upstream_headers(response))


def test_token_for_another_host_never_passes_with_spoofed_host_headers(stack: Stack) -> None:
    """B's token sent to A, with X-Original-URL / X-Forwarded-Host claiming B: refused."""
    response = stack.call(
        A,
        stack.token(B),
        **{"X-Original-URL": f"http://{B}/mcp", "X-Forwarded-Host": B, "X-Original-Method": "GET"},
    )
    assert response.status_code in (401, 403)
    assert "x-auth-request-user" not in response.text.lower()


def test_each_host_accepts_its_own_token(stack: Stack) -> None:
    """B's token works at B: hosts are told apart, not merged."""
    assert stack.call(B, stack.token(B)).status_code == 200
    assert stack.call(A, stack.token(B)).status_code == 401


def test_expired_token_is_refused_with_invalid_token(stack: Stack) -> None:
    """An expired token gets 401 invalid_token through the gateway."""
    old = stack.token(A, now=time.time() - 7200, lifetime=timedelta(hours=1))
    response = stack.call(A, old)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_discovery_is_routed_to_the_service(stack: Stack) -> None:
    """The protected-resource metadata is reachable on the MCP host through the gateway."""
    response = stack.client.get("/.well-known/oauth-protected-resource/mcp", headers={"host": A})
    assert response.status_code == 200
    assert response.json()["resource"] == "https://a.example.test/mcp"


def test_large_identity_fits_the_gateway_buffers(stack: Stack) -> None:
    """A user in hundreds of groups still passes (nginx's 4 KiB auth buffer never overflows)."""
    groups = tuple(f"team-{index:04d}-with-a-long-name" for index in range(150))
    response = stack.call(A, stack.token(A, groups=groups))
    seen = dict(upstream_headers(response))
    sent = seen["x-auth-request-groups"].split(",")
    assert sent == list(groups[: len(sent)]) and 30 < len(sent) < len(groups)
