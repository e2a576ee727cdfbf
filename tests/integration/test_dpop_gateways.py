"""DPoP-bound tokens (RFC 9449) through real gateways, with the real MCP SDK client signing a
proof per request: the proof is checked against the request the gateway says the client made,
a stolen token without its key is useless, and a replayed proof is refused."""

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
from tests.dpop_proofs import DpopAuth, DpopKey
from tests.e2e.stack import gatekeeper
from tests.integration.harness import GatewayOptions, run_gateway, trusted_host_headers
from tests.integration.harness.ports import LOOPBACK
from tests.mcp_servers import RunningServer, Variant, serve_mcp
from tests.support import mint

pytestmark = pytest.mark.gateway

#: nginx (as ingress-nginx), Envoy (the DPoP header in allowed_headers, as the examples deploy
#: it), Traefik and Caddy; each states the original method and URL its own way.
GATEWAYS = ("ingress-nginx", "envoy", "traefik", "caddy")
FULL = ("read", "write")


@dataclass
class Stack:
    gateway: str
    host: str
    app: FastAPI
    mcp: RunningServer
    nonces: bool

    @property
    def url(self) -> str:
        return f"http://{self.host}/mcp"

    def bound_token(self, key: DpopKey) -> str:
        cnf = {"cnf": {"jkt": key.thumbprint}}
        return mint(self.app, self.host, scopes=FULL, now=time.time(), extra_claims=cnf)


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[RunningServer]:
    with serve_mcp(Variant()) as server:
        yield server


#: Server nonces need the gateway to hand the 401's DPoP-Nonce header to the client: Envoy and
#: Traefik pass a refusal's headers through; nginx only what its error page copies.
@pytest.fixture(
    scope="module",
    params=[*((name, False) for name in GATEWAYS), ("envoy", True), ("traefik", True)],
    ids=lambda param: f"{param[0]}{'-nonces' if param[1] else ''}",
)
def stack(
    request: pytest.FixtureRequest,
    mcp_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    name, nonces = request.param
    workdir: Path = tmp_path_factory.mktemp(f"dpop-{name}")
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
                options=GatewayOptions(mcp_headers=True),
            )
        )
        host = f"{LOOPBACK}:{gateway.port}"
        scopes = [{"name": "read", "tools": ["tool_0"]}, {"name": "write", "tools": ["tool_1"]}]
        config = Config.model_validate(
            {
                "proxy": {
                    "hosts": [
                        {
                            "host": host,
                            "endpoint": mcp_server.url,
                            "scopes": scopes,
                            "dpop": "required",
                        }
                    ],
                    "trustedHostHeaders": trusted_host_headers(name),
                },
                "server": {"host": LOOPBACK},
                "tokens": {"dpopNonces": nonces},
            }
        )
        app = running.enter_context(gatekeeper(config, sock))
        yield Stack(name, host, app, mcp_server, nonces)


async def test_the_sdk_client_calls_tools_with_a_dpop_bound_token(stack: Stack) -> None:
    key = DpopKey()
    auth = DpopAuth(key, stack.bound_token(key))
    stack.mcp.requests.clear()
    async with (
        httpx2.AsyncClient(auth=auth, trust_env=False, timeout=15) as http,
        Client(streamable_http_client(stack.url, http_client=http)) as client,
    ):
        result = await client.call_tool("tool_0", {})
        second = await client.call_tool("tool_1", {})
    assert not result.is_error and not second.is_error
    calls = [r for r in stack.mcp.requests if r.rpc_method == "tools/call"]
    assert [call.headers["x-auth-request-user"] for call in calls] == ["alice", "alice"]
    assert (auth.nonce is not None) == stack.nonces, "a nonce was asked for exactly when on"


def _post(stack: Stack, token: str, scheme: str = "DPoP", **headers: str) -> httpx.Response:
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
        "authorization": f"{scheme} {token}",
        "accept": "application/json, text/event-stream",
        **headers,
    }
    return httpx.post(stack.url, json=body, headers=sent, trust_env=False, timeout=10)


def _refused(response: httpx.Response, error: str) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and f'error="{error}"' in challenge, challenge


def _nonce(stack: Stack, key: DpopKey, token: str) -> str | None:
    if not stack.nonces:
        return None
    first = _post(stack, token, dpop=key.proof("POST", stack.url, access_token=token))
    _refused(first, "use_dpop_nonce")
    return first.headers["dpop-nonce"]


def test_a_stolen_token_is_useless_without_its_key(stack: Stack) -> None:
    key, thief = DpopKey(), DpopKey()
    token = stack.bound_token(key)
    _refused(_post(stack, token, scheme="Bearer"), "invalid_token")
    _refused(_post(stack, token), "invalid_dpop_proof")
    nonce = _nonce(stack, key, token)
    forged = thief.proof("POST", stack.url, access_token=token, nonce=nonce)
    _refused(_post(stack, token, dpop=forged), "invalid_dpop_proof")


def test_a_proof_is_good_for_one_request_only(stack: Stack) -> None:
    key = DpopKey()
    token = stack.bound_token(key)
    nonce = _nonce(stack, key, token)
    proof = key.proof("POST", stack.url, access_token=token, nonce=nonce)
    assert _post(stack, token, dpop=proof).status_code == 200
    _refused(_post(stack, token, dpop=proof), "invalid_dpop_proof")
    elsewhere = key.proof("POST", f"http://{stack.host}/other", access_token=token, nonce=nonce)
    _refused(_post(stack, token, dpop=elsewhere), "invalid_dpop_proof")


def test_a_bearer_token_is_refused_where_the_host_requires_dpop(stack: Stack) -> None:
    plain = mint(stack.app, stack.host, scopes=FULL, now=time.time())
    _refused(_post(stack, plain, scheme="Bearer"), "invalid_token")
