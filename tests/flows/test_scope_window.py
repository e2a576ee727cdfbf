"""No window: a tool a scope covers is never callable without it, before its MCP server has
answered, while it is down, or on a process that starts while it is down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from mcp_gatekeeper.config import Config
from tests.flows.driver import Driver, query_of
from tests.integration.harness.ports import free_port
from tests.mcp_servers import Variant, serve_mcp
from tests.store.conftest import fernet_key
from tests.support import config_dict, mint, running
from tests.unit.test_tool_authorization import SCOPES, A, scopes_learnt, tool_call

SERVER_SCOPES = [{"name": "db:admin", "description": "Admin", "tools": ["drop"]}]


def config(endpoint: str, store: dict[str, Any] | None = None) -> Config:
    raw = config_dict(hosts=[{"host": A, "scopes": SCOPES, "endpoint": endpoint}])
    if store is not None:
        raw["store"] = store
    return Config.model_validate(raw)


async def ask(app: Any, client: httpx.AsyncClient, scopes: tuple[str, ...], body: Any) -> Any:
    token = mint(app, A, scopes=scopes)
    headers = {"host": A, "authorization": f"Bearer {token}"}
    return await client.post("/authenticate/mcp", headers=headers, content=json.dumps(body))


async def test_tool_calls_wait_until_the_server_has_answered() -> None:
    """Its server never reached: tool calls are refused with the reason, requests that call no
    tool pass, readiness and metrics name the host, and no token is issued for it."""
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    async with running(config(dead)) as (app, client):
        everything = ("db:read", "db:write")
        call = await ask(app, client, everything, tool_call("query"))
        hidden = await client.post(
            "/authenticate/mcp",
            headers={"host": A, "authorization": f"Bearer {mint(app, A, scopes=everything)}"},
        )
        listing = await ask(app, client, (), {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        ready = (await client.get("/readyz")).json()
        metrics = (await client.get("/metrics")).text
        driver = Driver(client)
        registered = await driver.register()
        authorize, _login = await driver.authorize(registered["client_id"])
    assert call.status_code == 403 and "not known yet" in call.json()["error_description"]
    assert hidden.status_code == 403
    assert listing.status_code == 200
    assert ready["scopesWaiting"] == [A] and ready["status"] == "degraded"
    assert f'mcp_gatekeeper_host_scopes_known{{host="{A}"}} 0.0' in metrics
    assert authorize.status_code in (302, 303)
    refusal = query_of(authorize.headers["location"])
    assert refusal["error"] == "temporarily_unavailable" and A in refusal["error_description"]


async def test_a_process_started_while_the_server_is_down_uses_the_last_known_list(
    tmp_path: Path,
) -> None:
    """The list learnt by one process survives in the store: a restart (or another replica)
    while the server is down enforces the server's own scopes at once."""
    store = {"url": f"sqlite:///{tmp_path / 'state.db'}", "encryptionKey": fernet_key()}
    with serve_mcp(Variant(page_meta=({"scopes": SERVER_SCOPES},))) as server:
        async with running(config(server.url, store)) as (_app, client):
            await scopes_learnt(client)
        endpoint = server.url
    async with running(config(endpoint, store)) as (app, client):
        ready = (await client.get("/readyz")).json()
        drop = await ask(app, client, ("db:read", "db:write"), tool_call("drop"))
        allowed = await ask(app, client, ("db:admin",), tool_call("drop"))
    assert ready["scopesWaiting"] == []
    assert drop.status_code == 403
    assert 'scope="db:read db:write db:admin"' in drop.headers["www-authenticate"]
    assert allowed.status_code == 200
