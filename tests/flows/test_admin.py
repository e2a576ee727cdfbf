"""Administration: list and remove clients, list users and end their grants; API and CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from fastapi import FastAPI

from mcp_gatekeeper.cli import main
from mcp_gatekeeper.config import Config
from tests.flows.driver import REDIRECT_URI, Driver
from tests.integration.service import running_service
from tests.store.conftest import fernet_key
from tests.support import FakeClock, config_dict, running, state_of
from tests.tls import HttpsServer, Reply, make_pki

A = "a.example.test"
TOKEN = "admin-token-for-tests-0123456789"


def admin_config(port: int = 8080) -> dict[str, Any]:
    raw = config_dict()
    raw["server"] = {"adminToken": TOKEN, "port": port}
    return raw


class Admin:
    def __init__(self, client: httpx.AsyncClient, app: FastAPI | None = None) -> None:
        self.client = client
        self.app = app
        self.driver = Driver(client)

    async def call(self, method: str, path: str, token: str = TOKEN) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"}
        return await self.client.request(method, "/admin" + path, headers=headers)

    async def signed_in_client(self, **metadata: Any) -> tuple[str, dict[str, Any]]:
        client = await self.driver.register(client_name="Notes app", **metadata)
        return client["client_id"], await self.tokens_for(client["client_id"])

    async def tokens_for(self, client_id: str) -> dict[str, Any]:
        code, login = await self.driver.code_for(client_id)
        response = await self.driver.exchange(code, login)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def gate(self, token: str) -> int:
        headers = {"host": A, "authorization": f"Bearer {token}"}
        return (await self.client.get("/authenticate", headers=headers)).status_code


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    config = Config.model_validate(admin_config())
    async with running(config, base_url=f"https://{A}") as (app, client):
        yield Admin(client, app)


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
    assert result == {
        "user": "demo@example.com",
        "grants_ended": 1,
        "tokens_revoked": 1,
        "approvals_forgotten": 1,
        "accounts_disconnected": 0,
    }
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
        assert listed.out.startswith("demo@example.com  (demo)  tokens=1\n")
        assert f"  {client_id}  https://{A}/mcp  checked 20" in listed.out
        assert main([*admin, "users", "revoke", "demo"]) == 0
        assert '"grants_ended": 1' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="cannot reach the service"):
        main([*admin, "clients", "list"])


async def sign_in_elsewhere(config: Config) -> str:
    async with running(config, base_url=f"https://{A}") as (_app, client):
        client_id, _tokens = await Admin(client).signed_in_client()
    return client_id


ACCESS_ONLY = {"grant_types": ["authorization_code"]}


async def test_revoking_a_client_without_refresh_tokens_ends_its_access_tokens(
    admin: Admin,
) -> None:
    """A client that never got a refresh token holds no grant, only access tokens: they are
    listed, and revoking the client refuses them at /authenticate at once."""
    client_id, tokens = await admin.signed_in_client(**ACCESS_ONLY)
    assert "refresh_token" not in tokens
    assert await admin.gate(tokens["access_token"]) == 200
    (listed,) = (await admin.call("GET", "/clients")).json()
    assert (listed["active_grants"], listed["live_tokens"]) == (0, 1)
    removed = (await admin.call("DELETE", f"/clients/{client_id}")).json()
    assert (removed["grants_ended"], removed["tokens_revoked"]) == (0, 1)
    assert await admin.gate(tokens["access_token"]) == 401


async def test_revoking_a_user_ends_access_tokens_of_clients_without_refresh_tokens(
    admin: Admin,
) -> None:
    """The user is listed while holding only access tokens; a user revoke refuses them."""
    _client_id, tokens = await admin.signed_in_client(**ACCESS_ONLY)
    (user,) = (await admin.call("GET", "/users")).json()
    assert (user["email"], user["grants"], user["live_tokens"]) == ("demo@example.com", [], 1)
    result = (await admin.call("POST", "/users/demo/revoke")).json()
    assert (result["grants_ended"], result["tokens_revoked"]) == (0, 1)
    assert await admin.gate(tokens["access_token"]) == 401
    assert (await admin.call("GET", "/users")).json() == []


async def test_a_metadata_document_client_is_listed_revoked_and_allowed_again(
    tmp_path: Path,
) -> None:
    """A client known only by its metadata document: listed with its grants and tokens;
    revoking it ends them and refuses it at /authorize and /token until it is allowed again."""
    pki = make_pki(tmp_path)
    with HttpsServer(pki) as documents:
        url = f"https://127.0.0.1:{documents.port}/clients/notes.json"
        document = {
            "client_id": url,
            "client_name": "Notes (document)",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        }
        documents.routes["/clients/notes.json"] = Reply(
            body=json.dumps(document).encode(), headers={"Content-Type": "application/json"}
        )
        raw = admin_config() | {
            "clients": {
                "metadataDocuments": {"allowPrivateAddresses": True, "caFile": str(pki.ca_file)}
            }
        }
        async with running(Config.model_validate(raw), base_url=f"https://{A}") as (_app, client):
            admin = Admin(client)
            tokens = await admin.tokens_for(url)
            (listed,) = (await admin.call("GET", "/clients")).json()
            assert listed["client_id"] == url and listed["metadata_document"] is True
            assert (listed["client_name"], listed["active_grants"], listed["live_tokens"]) == (
                "Notes (document)",
                1,
                1,
            )
            path = f"/clients/{quote(url, safe='')}"
            removed = (await admin.call("DELETE", path)).json()
            assert removed == {
                "client_id": url,
                "grants_ended": 1,
                "tokens_revoked": 1,
                "refused_until_allowed": True,
            }
            assert await admin.gate(tokens["access_token"]) == 401
            refresh = await admin.driver.token(
                {
                    "grant_type": "refresh_token",
                    "refresh_token": tokens["refresh_token"],
                    "client_id": url,
                }
            )
            assert (refresh.status_code, refresh.json()["error"]) == (401, "invalid_client")
            page, _login = await admin.driver.authorize(url)
            assert page.status_code == 400 and "revoked" in page.text
            (listed,) = (await admin.call("GET", "/clients")).json()
            assert listed["revoked_at"] is not None and listed["live_tokens"] == 0
            allowed = await admin.call("POST", f"{path}/allow")
            assert allowed.json() == {"client_id": url, "allowed": True}
            assert (await admin.call("POST", f"{path}/allow")).status_code == 404
            again = await admin.tokens_for(url)
            assert await admin.gate(again["access_token"]) == 200


async def test_self_revoking_an_expired_token_adds_nothing() -> None:
    """/revoke of a token past its exp (+ clock skew) leaves the revocation list as it was:
    a client can only add entries for live tokens issued to it, so the list is bounded by the
    tokens issued within one access-token lifetime."""
    clock = FakeClock()
    config = Config.model_validate(admin_config())
    async with running(config, clock, base_url=f"https://{A}") as (app, client):
        admin = Admin(client)
        client_id, tokens = await admin.signed_in_client(**ACCESS_ONLY)
        revocations = state_of(app).revocations
        clock.advance(config.tokens.access_token_ttl.total_seconds() + 3600)
        form = {"token": tokens["access_token"], "client_id": client_id}
        response = await client.post("/revoke", data=form, headers={"host": A})
        assert response.status_code == 200
        assert len(revocations) == 0
        _client_id, live = await admin.signed_in_client(**ACCESS_ONLY)
        form = {"token": live["access_token"], "client_id": _client_id}
        await client.post("/revoke", data=form, headers={"host": A})
        assert len(revocations) == 1 and await admin.gate(live["access_token"]) == 401


async def test_a_login_half_done_does_not_finish_after_the_user_is_revoked(admin: Admin) -> None:
    """The consent page open, or a code not yet redeemed, when the user is revoked: neither
    becomes a token afterwards."""
    client = await admin.driver.register(client_name="Notes app")
    response, _login = await admin.driver.authorize(client["client_id"])
    page = await admin.driver.sign_in(response)
    code, login = await admin.driver.code_for(client["client_id"])
    assert (await admin.call("POST", "/users/demo@example.com/revoke")).status_code == 200
    approved = await admin.driver.answer_consent(page, "approve")
    exchanged = await admin.driver.exchange(code, login)
    assert "code=" not in approved.headers.get("location", "")
    assert exchanged.status_code == 400 and exchanged.json()["error"] == "invalid_grant"


async def test_revoking_a_client_again_finishes_what_a_first_attempt_left(admin: Admin) -> None:
    """The client record already gone (a first revoke cut short): revoking again still ends
    its tokens instead of answering 404; a client that never was is still a 404."""
    client_id, tokens = await admin.signed_in_client()
    assert admin.app is not None and await admin.app.state.services.clients.delete(client_id)
    again = await admin.call("DELETE", f"/clients/{client_id}")
    unknown = await admin.call("DELETE", "/clients/never-registered")
    assert again.status_code == 200 and again.json()["tokens_revoked"] == 1
    assert await admin.gate(tokens["access_token"]) == 401
    assert unknown.status_code == 404
