"""Per-tool authorization at /authenticate: headers, forwarded bodies, step-up, strict."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.forward_auth.tool_calls import MAX_BODY_BYTES
from tests.support import config_dict, mint, running

A = "a.example.test"
SCOPES = [
    {"name": "db:read", "description": "Read", "tools": ["query", "list_tables"]},
    {"name": "db:write", "description": "Write", "tools": ["query", "insert"]},
]


def config(**host: Any) -> Config:
    raw = config_dict(hosts=[{"host": A, "scopes": SCOPES, **host}])
    return Config.model_validate(raw)


class Gate:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app, self.client = app, client

    async def ask(
        self,
        scopes: tuple[str, ...],
        method: str = "POST",
        body: Any = None,
        **headers: str,
    ) -> httpx.Response:
        token = mint(self.app, A, scopes=scopes)
        sent = {"host": A, "authorization": f"Bearer {token}", **headers}
        content = json.dumps(body).encode() if body is not None else None
        return await self.client.request(method, "/authenticate/mcp", headers=sent, content=content)


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    async with running(config()) as (app, client):
        yield Gate(app, client)


def tool_call(name: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name}}


async def test_tool_covered_by_a_granted_scope_passes(gate: Gate) -> None:
    """A read token may call the read tool named in the 2026-07-28 headers."""
    response = await gate.ask(("db:read",), **{"mcp-method": "tools/call", "mcp-name": "query"})
    assert response.status_code == 200


async def test_missing_scope_gets_a_step_up_challenge(gate: Gate) -> None:
    """403 insufficient_scope naming the granted scopes plus the least privileged missing one."""
    response = await gate.ask(("db:read",), **{"mcp-method": "tools/call", "mcp-name": "insert"})
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", '
        'resource_metadata="https://a.example.test/.well-known/oauth-protected-resource/mcp", '
        'scope="db:read db:write"'
    )
    assert response.headers["access-control-expose-headers"] == "WWW-Authenticate"
    assert response.json()["error"] == "insufficient_scope"


async def test_forwarded_body_is_checked_including_batches(gate: Gate) -> None:
    """Without headers the JSON-RPC body decides; one refused tool in a batch refuses it all."""
    ok = await gate.ask(("db:read",), body=tool_call("list_tables"))
    batch = await gate.ask(("db:read",), body=[tool_call("query"), tool_call("insert")])
    assert ok.status_code == 200
    assert (
        batch.status_code == 403 and 'scope="db:read db:write"' in batch.headers["www-authenticate"]
    )


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"mcp-method": "tools/list"}, tool_call("insert")),
        ({"mcp-method": "tools/call", "mcp-name": "query"}, tool_call("insert")),
        ({}, "not json"),
        ({"mcp-name": "query"}, None),
    ],
    ids=["method-differs", "name-differs", "garbage-body", "name-without-method"],
)
async def test_disagreeing_or_unreadable_requests_are_refused(
    gate: Gate, headers: dict[str, str], body: Any
) -> None:
    """Headers and body that disagree, or an unreadable body, are refused (403), not guessed."""
    response = await gate.ask(("db:read", "db:write"), body=body, **headers)
    assert response.status_code == 403 and "www-authenticate" not in response.headers


async def test_tools_no_scope_mentions_stay_callable(gate: Gate) -> None:
    """A tool outside every scope is callable by any valid token for the host."""
    response = await gate.ask((), **{"mcp-method": "tools/call", "mcp-name": "ping_tool"})
    assert response.status_code == 200


async def test_enforce_falls_back_to_the_host_decision_and_passes_scopes(gate: Gate) -> None:
    """An unidentifiable POST passes under enforce, with the scopes for the server to check."""
    response = await gate.ask(("db:read",))
    assert response.status_code == 200
    assert response.headers["x-auth-request-scopes"] == "db:read"


async def test_strict_refuses_a_post_that_hides_its_tool() -> None:
    """toolPolicy strict: read-only holds even for clients that send no Mcp-* headers."""
    async with running(config(toolPolicy="strict")) as (app, client):
        gate = Gate(app, client)
        hidden = await gate.ask(("db:read",))
        named = await gate.ask(("db:read",), **{"mcp-method": "tools/call", "mcp-name": "query"})
        stream = await gate.ask(("db:read",), method="GET")
    assert hidden.status_code == 403
    assert named.status_code == 200 and stream.status_code == 200


async def test_challenge_and_metadata_offer_the_base_scopes() -> None:
    """baseScopes narrows scope= in 401s and scopes_supported; step-up asks for the rest."""
    async with running(config(baseScopes=["db:read"])) as (_app, client):
        challenge = await client.get("/authenticate", headers={"host": A})
        prm = await client.get("/.well-known/oauth-protected-resource/mcp", headers={"host": A})
        metadata = await client.get("/.well-known/oauth-authorization-server", headers={"host": A})
    assert challenge.headers["www-authenticate"].endswith('scope="db:read"')
    assert prm.json()["scopes_supported"] == ["db:read"]
    assert metadata.json()["scopes_supported"] == ["db:read", "offline_access"]


async def test_a_body_past_the_inspection_limit_is_refused_whatever_its_chunks(gate: Gate) -> None:
    """The chunk that crosses the 1 MiB limit counts: a readable call padded to the limit, with
    more after it, is refused as too large, never judged on the part that fit."""
    readable = json.dumps(tool_call("list_tables")).encode()
    first = readable + b" " * (MAX_BODY_BYTES - 100 - len(readable))

    async def chunks() -> AsyncIterator[bytes]:
        yield first
        yield b" " * 150 + b"trailing bytes that would not parse"

    token = mint(gate.app, A, scopes=("db:read",))
    response = await gate.client.post(
        "/authenticate/mcp",
        headers={"host": A, "authorization": f"Bearer {token}"},
        content=chunks(),
    )
    assert response.status_code == 403
    assert "large" in response.json()["error_description"]
