"""An agent acting for a user (RFC 8693 token exchange) through real gateways, end to end.

The agent registers as a confidential client, is named in ``grants.tokenExchange.actors``,
exchanges the user's token at ``/token`` on the MCP host (routed to mcp-gatekeeper by the
gateway), and calls a tool with the real ``mcp`` SDK client. The real MCP server (the SDK's
``MCPServer``, recording every request) must be told both who the user is and who acts for them,
and never a client's own copy of the actor header.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_gatekeeper.config import Config
from tests.e2e.stack import gatekeeper
from tests.integration.harness import GatewayOptions, run_gateway, trusted_host_headers
from tests.integration.harness.ports import LOOPBACK
from tests.mcp_servers import RunningServer, Variant, serve_mcp
from tests.support import mint, state_of

pytestmark = pytest.mark.gateway

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
GATEWAYS = ("ingress-nginx", "envoy", "traefik")
#: Every scope of the host: a gateway that shows no body lets only such a token open a session.
FULL = ("read", "write")


@dataclass
class Stack:
    gateway: str
    host: str
    app: FastAPI
    mcp: RunningServer

    @property
    def origin(self) -> str:
        return f"http://{self.host}"


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[RunningServer]:
    with serve_mcp(Variant()) as server:
        yield server


@pytest.fixture(scope="module", params=GATEWAYS)
def stack(
    request: pytest.FixtureRequest,
    mcp_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    name: str = request.param
    workdir: Path = tmp_path_factory.mktemp(f"delegation-{name}")
    mcp_port = int(mcp_server.url.rsplit(":", 1)[1].split("/")[0])
    with ExitStack() as running:
        sock = running.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind((LOOPBACK, 0))
        gateway = running.enter_context(
            run_gateway(
                name,
                auth_port=sock.getsockname()[1],
                upstream_port=mcp_port,
                hosts=[LOOPBACK],
                workdir=workdir,
                # As the examples deploy Envoy: Mcp-Method and Mcp-Name shown to the check, so a
                # read-only token may call a read tool (the others pass every header already).
                options=GatewayOptions(mcp_headers=True),
            )
        )
        host = f"{LOOPBACK}:{gateway.port}"
        scopes = [{"name": "read", "tools": ["tool_0"]}, {"name": "write", "tools": ["tool_1"]}]
        config = Config.model_validate(
            {
                "proxy": {
                    "hosts": [{"host": host, "endpoint": mcp_server.url, "scopes": scopes}],
                    "trustedHostHeaders": trusted_host_headers(name),
                },
                "server": {"host": LOOPBACK},
                "grants": {"tokenExchange": {"enabled": True}},
            }
        )
        app = running.enter_context(gatekeeper(config, sock))
        yield Stack(name, host, app, mcp_server)


def register_agent(stack: Stack) -> tuple[str, str]:
    """A confidential client registered through the gateway, then named an actor (as an
    operator would list it in grants.tokenExchange.actors)."""
    response = httpx.post(
        f"{stack.origin}/register",
        json={
            "client_name": "Planner agent",
            "redirect_uris": ["http://127.0.0.1:3030/callback"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        trust_env=False,
    )
    assert response.status_code == 201, response.text
    registered = response.json()
    state_of(stack.app).config.grants.token_exchange.actors.append(registered["client_id"])
    return registered["client_id"], registered["client_secret"]


def exchange(
    stack: Stack, agent: tuple[str, str], subject_token: str, **form: str
) -> httpx.Response:
    return httpx.post(
        f"{stack.origin}/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS,
            **form,
        },
        auth=agent,
        trust_env=False,
    )


async def test_the_mcp_server_sees_the_user_and_the_agent(stack: Stack) -> None:
    user_token = mint(stack.app, stack.host, scopes=FULL, now=time.time())
    agent = register_agent(stack)
    response = exchange(stack, agent, user_token, scope="read")
    assert response.status_code == 200, response.text
    delegated = response.json()["access_token"]
    assert response.json()["scope"] == "read"
    stack.mcp.requests.clear()
    headers = {"Authorization": f"Bearer {delegated}"}
    async with (
        httpx2.AsyncClient(headers=headers, trust_env=False, timeout=15) as http,
        Client(streamable_http_client(f"{stack.origin}/mcp", http_client=http)) as client,
    ):
        result = await client.call_tool("tool_0", {})
    assert not result.is_error
    (call,) = [r for r in stack.mcp.requests if r.rpc_method == "tools/call"]
    assert call.headers["x-auth-request-user"] == "alice"
    assert call.headers["x-auth-request-email"] == "alice@example.test"
    assert call.headers["x-auth-request-actor"] == agent[0]
    assert call.headers["x-auth-request-scopes"] == "read"


def test_the_users_own_client_reaches_the_server_with_an_empty_actor(stack: Stack) -> None:
    stack.mcp.requests.clear()
    response = post_initialize(stack, mint(stack.app, stack.host, scopes=FULL, now=time.time()))
    assert response.status_code == 200, response.text
    (seen,) = stack.mcp.requests
    assert seen.headers["x-auth-request-user"] == "alice"
    assert seen.headers.get("x-auth-request-actor", "") == ""


@pytest.mark.parametrize("spoofed", ["X-Auth-Request-Actor", "X_Auth_Request_Actor"])
def test_a_client_sent_actor_header_never_reaches_the_server(stack: Stack, spoofed: str) -> None:
    """The user's own token, claiming an actor; and the agent's, claiming another."""
    agent = register_agent(stack)
    user_token = mint(stack.app, stack.host, scopes=FULL, now=time.time())
    delegated = exchange(stack, agent, user_token).json()["access_token"]
    for token, actor in ((user_token, ""), (delegated, agent[0])):
        stack.mcp.requests.clear()
        response = post_initialize(stack, token, **{spoofed: "mallory"})
        if response.status_code == 403:
            continue  # the gateway showed the header to mcp-gatekeeper, which refused it
        assert response.status_code == 200, response.text
        (seen,) = stack.mcp.requests
        assert "mallory" not in seen.headers.values(), (stack.gateway, seen.headers)
        assert seen.headers.get("x-auth-request-actor", "") == actor


def test_host_isolation_holds_through_the_gateway(stack: Stack) -> None:
    agent = register_agent(stack)
    user_token = mint(stack.app, stack.host, scopes=FULL, now=time.time())
    other = "https://other.example.test/mcp"
    for form in ({"resource": other}, {"audience": other}):
        response = exchange(stack, agent, user_token, **form)
        assert response.status_code == 400 and response.json()["error"] == "invalid_target"


def post_initialize(stack: Stack, token: str, **headers: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    sent = {
        "authorization": f"Bearer {token}",
        "accept": "application/json, text/event-stream",
        **headers,
    }
    return httpx.post(f"{stack.origin}/mcp", json=body, headers=sent, trust_env=False, timeout=10)
