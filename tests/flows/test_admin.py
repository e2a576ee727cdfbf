"""Administration: list and remove clients, list users and end their grants; API and CLI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mcp_gatekeeper.cli import main
from mcp_gatekeeper.config import Config
from tests.flows.driver import Driver
from tests.integration.service import running_service
from tests.store.conftest import fernet_key
from tests.support import config_dict, running

A = "a.example.test"
TOKEN = "admin-token-for-tests-0123456789"


def admin_config(port: int = 8080) -> dict[str, Any]:
    raw = config_dict()
    raw["server"] = {"adminToken": TOKEN, "port": port}
    return raw


class Admin:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.driver = Driver(client)

    async def call(self, method: str, path: str, token: str = TOKEN) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"}
        return await self.client.request(method, "/admin" + path, headers=headers)

    async def signed_in_client(self) -> tuple[str, dict[str, Any]]:
        client = await self.driver.register(client_name="Notes app")
        code, login = await self.driver.code_for(client["client_id"])
        tokens: dict[str, Any] = (await self.driver.exchange(code, login)).json()
        return client["client_id"], tokens

    async def gate(self, token: str) -> int:
        headers = {"host": A, "authorization": f"Bearer {token}"}
        return (await self.client.get("/authenticate", headers=headers)).status_code


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    config = Config.model_validate(admin_config())
    async with running(config, base_url=f"https://{A}") as (_app, client):
        yield Admin(client)


async def test_admin_api_needs_the_token(admin: Admin) -> None:
    """Without the right token the admin API refuses."""
    assert (await admin.call("GET", "/clients", token="wrong")).status_code == 403


async def test_admin_api_is_off_without_a_token() -> None:
    """No server.adminToken: there is no admin API at all."""
    async with running(Config.model_validate(config_dict())) as (_app, client):
        response = await client.get("/admin/clients", headers={"authorization": "Bearer x"})
    assert response.status_code == 404


async def test_list_and_remove_a_client_ends_its_grants(admin: Admin) -> None:
    """Removing a client forgets it and revokes every token it holds."""
    client_id, tokens = await admin.signed_in_client()
    listed = (await admin.call("GET", "/clients")).json()
    assert [(c["client_id"], c["client_name"], c["active_grants"]) for c in listed] == [
        (client_id, "Notes app", 1)
    ]
    removed = (await admin.call("DELETE", f"/clients/{client_id}")).json()
    assert removed["grants_ended"] == 1
    assert await admin.gate(tokens["access_token"]) == 401
    assert (await admin.call("GET", "/clients")).json() == []
    assert (await admin.call("DELETE", f"/clients/{client_id}")).status_code == 404


async def test_users_list_shows_who_holds_a_grant_until_revoked(admin: Admin) -> None:
    """Each signed-in user once, with every live grant: client, MCP server, scopes, last check."""
    first, _ = await admin.signed_in_client()
    second, _ = await admin.signed_in_client()
    (user,) = (await admin.call("GET", "/users")).json()
    assert (user["subject"], user["email"], user["groups"]) == (
        "demo",
        "demo@example.com",
        ["demo"],
    )
    assert [grant["client_id"] for grant in user["grants"]] == [first, second]
    grant = user["grants"][0]
    assert grant["resource"] == f"https://{A}/mcp" and grant["scopes"] == ["read"]
    assert grant["checked_at"] == grant["signed_in_at"]
    await admin.call("DELETE", f"/clients/{first}")
    (user,) = (await admin.call("GET", "/users")).json()
    assert [grant["client_id"] for grant in user["grants"]] == [second]
    await admin.call("POST", "/users/demo/revoke")
    assert (await admin.call("GET", "/users")).json() == []


async def test_revoking_a_user_ends_grants_and_forgets_approvals(admin: Admin) -> None:
    """After a user revoke, tokens stop working and the next login asks for approval again."""
    client_id, tokens = await admin.signed_in_client()
    result = (await admin.call("POST", "/users/demo@example.com/revoke")).json()
    assert result == {"user": "demo@example.com", "grants_ended": 1, "approvals_forgotten": 1}
    assert await admin.gate(tokens["access_token"]) == 401
    response, _ = await admin.driver.authorize(client_id)
    page = await admin.driver.sign_in(response)
    assert page.status_code == 200 and "Allow" in page.text


def test_cli_talks_to_the_running_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mcp-gatekeeper admin ...` reaches the service on loopback with the token, and prints
    what it holds (a login made through another process on the same store)."""
    from tests.integration.harness import free_port

    port = free_port()
    raw = admin_config(port) | {
        "store": {"url": f"sqlite:///{tmp_path / 'state.db'}", "encryptionKey": fernet_key()}
    }
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    config = Config.model_validate(raw)
    admin = ["admin", "--config", str(config_file)]
    with running_service(config, port=port):
        assert main([*admin, "users", "list"]) == 0
        assert "0 user(s)" in capsys.readouterr().err
        client_id = asyncio.run(sign_in_elsewhere(config))
        assert main([*admin, "clients", "list"]) == 0
        listed = capsys.readouterr()
        assert f"{client_id}  Notes app  grants=1" in listed.out and "1 client(s)" in listed.err
        assert main([*admin, "users", "list"]) == 0
        listed = capsys.readouterr()
        assert listed.out.startswith("demo@example.com  (demo)\n")
        assert f"  {client_id}  https://{A}/mcp  checked 20" in listed.out
        assert main([*admin, "users", "revoke", "demo"]) == 0
        assert '"grants_ended": 1' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="cannot reach the service"):
        main([*admin, "clients", "list"])


async def sign_in_elsewhere(config: Config) -> str:
    async with running(config, base_url=f"https://{A}") as (_app, client):
        client_id, _tokens = await Admin(client).signed_in_client()
    return client_id
