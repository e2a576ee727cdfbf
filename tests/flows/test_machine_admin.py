"""Machine clients through the admin API and `mcp-gatekeeper admin clients`: made with a secret
shown once or with public keys, listed with their binding and live tokens, and revoked with
every token they hold; configured ones cannot be deleted there."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from mcp_gatekeeper.cli import main
from mcp_gatekeeper.config import Config
from tests.flows.test_client_credentials import CI, RESOURCE_A, A, machine_config
from tests.integration.service import running_service
from tests.machine_clients import (
    SECRET,
    assertion,
    basic,
    client_key,
    jwt_form,
    public_jwk,
    public_jwks,
    token_request,
)
from tests.support import FakeClock, running, state_of

TOKEN = "admin-token-for-tests-0123456789"


def admin_machine_config(port: int = 8080) -> dict[str, Any]:
    return machine_config() | {"server": {"adminToken": TOKEN, "port": port}}


class Admin:
    def __init__(self, http: httpx.AsyncClient, app: FastAPI) -> None:
        self.http = http
        self.app = app

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {TOKEN}"}
        return await self.http.request(method, "/admin" + path, json=body, headers=headers)

    async def create(self, **body: Any) -> dict[str, Any]:
        response = await self.call("POST", "/clients", {"name": "ci", "hosts": [A]} | body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def listed(self, client_id: str) -> dict[str, Any] | None:
        found = [
            c for c in (await self.call("GET", "/clients")).json() if c["client_id"] == client_id
        ]
        return found[0] if found else None

    async def gate(self, token: str) -> int:
        headers = {"host": A, "authorization": f"Bearer {token}"}
        return (await self.http.get("/authenticate", headers=headers)).status_code


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    config = Config.model_validate(admin_machine_config())
    async with running(config, FakeClock(time.time()), base_url=f"https://{A}") as (app, http):
        yield Admin(http, app)


async def test_a_made_client_gets_tokens_until_revoked_with_them(admin: Admin) -> None:
    """Create, list, get a token, revoke: its live token is refused at /authenticate at once,
    and it can get no other."""
    created = await admin.create(name="nightly", scopes=["read"])
    client_id, secret = created["client_id"], created["client_secret"]
    assert created["auth_method"] == "client_secret_basic" and created["hosts"] == [A]
    response = await token_request(admin.http, {}, basic(client_id, secret))
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert await admin.gate(token) == 200
    listed = await admin.listed(client_id)
    assert listed is not None
    assert (listed["kind"], listed["source"], listed["client_name"]) == (
        "machine",
        "admin",
        "nightly",
    )
    assert (listed["hosts"], listed["scopes"], listed["live_tokens"]) == ([A], ["read"], 1)
    assert "client_secret" not in listed
    removed = await admin.call("DELETE", f"/clients/{client_id}")
    assert removed.status_code == 200 and removed.json()["tokens_revoked"] == 1
    assert await admin.gate(token) == 401
    again = await token_request(admin.http, {}, basic(client_id, secret))
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    assert await admin.listed(client_id) is None


async def test_the_secret_is_kept_only_as_a_hash(admin: Admin) -> None:
    """Nothing in the store holds the secret the answer showed."""
    created = await admin.create()
    store = state_of(admin.app).store
    stored = b"".join(raw for _key, raw in await store.items("machine-clients"))
    assert created["client_id"].encode() in stored
    assert created["client_secret"].encode() not in stored


async def test_a_made_jwt_client_authenticates_with_its_key(admin: Admin) -> None:
    created = await admin.create(jwks=public_jwks(client_key(2)), scopes=["read"])
    assert "client_secret" not in created and created["auth_method"] == "private_key_jwt"
    signed = assertion(client_key(2), created["client_id"], f"https://{A}/token")
    response = await token_request(admin.http, {"resource": RESOURCE_A} | jwt_form(signed))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"hosts": ["c.example.test"]}, "hosts: not a configured"),
        ({"jwks": {"keys": [public_jwk(client_key(2)) | {"d": "AQAB"}]}}, "jwks: "),
        ({"jwks_uri": "http://keys.example.test/jwks.json"}, "jwks_uri: "),
        ({"scopes": ["has space"]}, "scopes: "),
        ({"scopes": ["offline_access"]}, "no refresh tokens"),
        ({"jwks_uri": "https://keys.example.test/jwks", "jwks": {"keys": []}}, "not both"),
        ({"secret": "mine"}, "secret: "),
        ({"hosts": []}, "hosts: "),
        ({"name": "ci\r\nX-Injected: 1"}, "name: "),
    ],
    ids=[
        *("unknown-host", "private-key", "http-jwks-uri", "bad-scope", "offline"),
        *("two-ways", "own-secret", "no-host", "control-characters"),
    ],
)
async def test_a_bad_machine_client_is_refused_by_field(
    admin: Admin, body: dict[str, Any], fragment: str
) -> None:
    response = await admin.call("POST", "/clients", {"name": "ci", "hosts": [A]} | body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error_description"]


async def test_a_configured_client_is_not_deleted_through_the_api(admin: Admin) -> None:
    """409 naming the file; the client keeps working; its tokens end by its subject."""
    token = (await token_request(admin.http, {}, basic(CI, SECRET))).json()["access_token"]
    refused = await admin.call("DELETE", f"/clients/{CI}")
    assert refused.status_code == 409
    description = refused.json()["error_description"]
    assert "grants.clientCredentials.clients" in description and "users revoke" in description
    assert await admin.gate(token) == 200
    listed = await admin.listed(CI)
    assert listed is not None and listed["source"] == "config"
    ended = await admin.call("POST", f"/users/{CI}/revoke")
    assert ended.json()["tokens_revoked"] == 1
    assert await admin.gate(token) == 401


def test_the_cli_makes_lists_and_revokes_a_machine_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`admin clients create` prints the id and the secret once; list and revoke follow."""
    from tests.integration.harness import free_port

    port = free_port()
    raw = admin_machine_config(port)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    jwks_file = tmp_path / "keys.json"
    jwks_file.write_text(json.dumps(public_jwks(client_key(2))))
    admin = ["admin", "--config", str(config_file)]
    with running_service(Config.model_validate(raw), port=port) as service:
        create = [*admin, "clients", "create", "--name", "deploy-bot", "--host", A]
        assert main([*create, "--scope", "read"]) == 0
        printed = dict(
            line.split(": ", 1) for line in capsys.readouterr().out.splitlines() if ": " in line
        )
        client_id, secret = printed["client_id"], printed["client_secret"]
        assert main([*create, "--jwks-file", str(jwks_file)]) == 0
        assert "client_secret" not in capsys.readouterr().out
        token = httpx.post(
            service.url + "/token",
            data={"grant_type": "client_credentials"},
            headers={"host": A} | basic(client_id, secret),
        ).json()["access_token"]
        assert main([*admin, "clients", "list"]) == 0
        listing = capsys.readouterr().out
        line = next(line for line in listing.splitlines() if line.startswith(client_id))
        assert "machine (admin)" in line and f"hosts={A}" in line and "tokens=1" in line
        assert f"{CI}  Nightly CI  machine (config)" in listing
        assert main([*admin, "clients", "revoke", client_id]) == 0
        assert '"tokens_revoked": 1' in capsys.readouterr().out
        gate = httpx.get(
            service.url + "/authenticate", headers={"host": A, "authorization": f"Bearer {token}"}
        )
        assert gate.status_code == 401
        with pytest.raises(SystemExit, match=r"409.*configuration file"):
            main([*admin, "clients", "revoke", CI])
