"""``proxy.hosts[].rules`` end to end: the real ``mcp`` SDK client through Envoy and Traefik,
both forwarding the body, to a real MCP server that records what reached it.

The rule is agentgateway's MCP authorization example, verbatim: only a token whose scope names
``files:delete`` and whose namespaced ``https://mcp-demo/roles`` claim lists ``admin`` may call
``delete_file``. A rule on arguments keeps ``read_rows`` off the salary tables. A refused call
never reaches the server, and the SDK shows the rule's message.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from tests.support import mint

pytestmark = pytest.mark.gateway

ROLES = "https://mcp-demo/roles"
SCOPES = ("files:read", "files:delete")
#: The agentgateway example, character for character.
AGENTGATEWAY_RULE = (
    'mcp.tool.name == "delete_file" && jwt.scope.contains("files:delete") && '
    'jwt["https://mcp-demo/roles"].contains("admin")'
)
ADMINS_ONLY = "Only administrators may delete files"
NO_SALARIES = "Salary tables are not available through MCP"
RULES = [
    {
        "deny": 'mcp.tool.name == "read_rows" && '
        'mcp.tool.arguments.table in ["salaries", "payroll"]',
        "message": NO_SALARIES,
    },
    {"allow": AGENTGATEWAY_RULE, "message": ADMINS_ONLY},
    # Nothing allows the handshake: it must pass as plumbing (the SDK's server/discover).
    {"allow": 'mcp.tool.name == "read_rows"', "message": ADMINS_ONLY},
]
#: The body-forwarding deployments of each gateway that can forward it.
VARIANTS: dict[str, tuple[str, GatewayOptions]] = {
    "envoy-body": ("envoy", GatewayOptions(forward_body=True, mcp_headers=True)),
    "traefik-body": ("traefik", GatewayOptions(forward_body=True)),
}


@dataclass
class Stack:
    url: str
    host: str
    app: FastAPI
    mcp: RunningServer

    def token(self, *roles: str) -> str:
        claims = {ROLES: list(roles)}
        return mint(self.app, self.host, scopes=SCOPES, now=time.time(), extra_claims=claims)

    def executed(self) -> list[tuple[str, Any]]:
        """The tools/call requests that reached the MCP server: (tool, arguments)."""
        return [
            (r.body["params"]["name"], r.body["params"].get("arguments"))
            for r in self.mcp.requests
            if r.rpc_method == "tools/call"
        ]


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[RunningServer]:
    with serve_mcp(Variant(tools=("delete_file", "read_rows"))) as server:
        yield server


@pytest.fixture(scope="module", params=list(VARIANTS))
def stack(
    request: pytest.FixtureRequest,
    mcp_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    name: str = request.param
    gateway, options = VARIANTS[name]
    workdir: Path = tmp_path_factory.mktemp(f"rules-{name}")
    mcp_port = int(mcp_server.url.rsplit(":", 1)[1].split("/")[0])
    with ExitStack() as running:
        sock = running.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind((LOOPBACK, 0))
        gw = running.enter_context(
            run_gateway(
                gateway,
                auth_port=sock.getsockname()[1],
                upstream_port=mcp_port,
                hosts=[LOOPBACK],
                workdir=workdir,
                options=options,
            )
        )
        host = f"{LOOPBACK}:{gw.port}"
        scopes = [
            {"name": "files:read", "tools": ["read_rows"]},
            {"name": "files:delete", "tools": ["delete_file"]},
        ]
        entry = {"host": host, "endpoint": mcp_server.url, "scopes": scopes, "rules": RULES}
        config = Config.model_validate(
            {
                "proxy": {
                    "hosts": [entry],
                    "trustedHostHeaders": trusted_host_headers(gateway, options),
                },
                "server": {"host": LOOPBACK},
            }
        )
        app = running.enter_context(gatekeeper(config, sock))
        yield Stack(f"http://{host}/mcp", host, app, mcp_server)


async def call(stack: Stack, token: str, tool: str, arguments: dict[str, Any]) -> bool:
    """Call ``tool`` with the SDK; whether the server's answer was a success."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, trust_env=False, timeout=15) as http,
        Client(streamable_http_client(stack.url, http_client=http)) as client,
    ):
        result = await client.call_tool(tool, arguments)
    return not result.is_error


async def refused(stack: Stack, token: str, tool: str, arguments: dict[str, Any]) -> str:
    """Call ``tool`` expecting a refusal; every message the SDK raised."""
    with pytest.raises(BaseException) as raised:
        await call(stack, token, tool, arguments)
    return _messages(raised.value)


async def test_an_admin_may_delete_a_file(stack: Stack) -> None:
    stack.mcp.requests.clear()
    assert await call(stack, stack.token("admin", "staff"), "delete_file", {"path": "old.txt"})
    assert stack.executed() == [("delete_file", {"path": "old.txt"})]


async def test_anyone_else_is_refused_with_the_rules_message(stack: Stack) -> None:
    """Same scopes, another role (and then no role claim at all, so the rule fails to evaluate):
    a 403 whose description the SDK shows, and the server never sees the call."""
    stack.mcp.requests.clear()
    for token in (stack.token("staff"), stack.token()):
        messages = await refused(stack, token, "delete_file", {"path": "old.txt"})
        assert ADMINS_ONLY in messages, messages
    # The session itself was allowed: plumbing is never held to rules.
    assert "POST server/discover" in stack.mcp.rpc_methods()
    assert stack.executed() == []
    # Tools the rules allow everyone still work for the same user.
    assert await call(stack, stack.token("staff"), "read_rows", {"table": "orders"})


async def test_a_rule_on_arguments_refuses_a_forbidden_table(stack: Stack) -> None:
    stack.mcp.requests.clear()
    admin = stack.token("admin")
    for table in ("salaries", "payroll"):
        messages = await refused(stack, admin, "read_rows", {"table": table})
        assert NO_SALARIES in messages, messages
    assert stack.executed() == []
    assert await call(stack, admin, "read_rows", {"table": "orders"})
    assert stack.executed() == [("read_rows", {"table": "orders"})]


def _messages(error: BaseException) -> str:
    """Every message inside an exception group, nested groups included."""
    if isinstance(error, BaseExceptionGroup):
        return " | ".join(_messages(inner) for inner in error.exceptions)
    return str(error)
