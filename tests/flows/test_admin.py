"""Administration: list and remove clients, end a user's grants; the API and the CLI."""

from __future__ import annotations

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
    """`mcp-gatekeeper admin clients list` reaches the service on loopback with the token."""
    from tests.integration.harness import free_port

    port = free_port()
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(admin_config(port)))
    config = Config.model_validate(admin_config(port))
    with running_service(config, port=port):
        assert main(["admin", "--config", str(config_file), "clients", "list"]) == 0
        assert "0 client(s)" in capsys.readouterr().err
        assert main(["admin", "--config", str(config_file), "users", "revoke", "nobody"]) == 0
        assert '"grants_ended": 0' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="cannot reach the service"):
        main(["admin", "--config", str(config_file), "clients", "list"])
