"""``provider.copyClaims`` through a real login: the npm OpenID provider states a namespaced
``https://mcp-demo/roles`` claim (in userinfo, or in the ID token too), the claim reaches our
access token, and rules read it on the consent page and at ``/authenticate``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.providers.oidc import OidcProvider
from tests.flows.driver import Driver, query_of, ticked_scopes
from tests.providers.oidc_server import (
    CALLBACK,
    CLIENT_ID,
    CLIENT_SECRET,
    Counting,
    OidcServer,
    browse_to_callback,
    run_oidc_server,
)
from tests.support import FakeClock, running

LOGIN_HOST = "mcp.example.test"  # the provider's registered callback is on this host
ROLES = "https://mcp-demo/roles"
ANALYSTS_ONLY = "Salary tables are for analysts"
RULES = [
    {
        "deny": 'mcp.tool.name == "read_rows" && mcp.tool.arguments.table == "salaries" && '
        '!jwt["https://mcp-demo/roles"].contains("analyst")',
        "message": ANALYSTS_ONLY,
    },
    # agentgateway's example, verbatim.
    {
        "allow": 'mcp.tool.name == "delete_file" && jwt.scope.contains("files:delete") && '
        'jwt["https://mcp-demo/roles"].contains("admin")',
        "message": "Only administrators may delete files",
    },
    {"allow": 'mcp.tool.name != "delete_file"', "message": "Only administrators may delete files"},
]
SCOPES = [
    {"name": "files:read", "description": "Read rows", "tools": ["read_rows"]},
    {"name": "files:delete", "description": "Delete files", "tools": ["delete_file"]},
]


@pytest.fixture(scope="module", params=["userinfo", "id_token"])
def idp(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[OidcServer, str]]:
    """The provider, and where it states the claim (``userinfo``, or ``id_token`` as well)."""
    env = {
        "CUSTOM_CLAIMS": ROLES,
        "CLAIMS_IN_ID_TOKEN": "1" if request.param == "id_token" else "0",
    }
    with run_oidc_server(tmp_path_factory.mktemp("oidc"), extra_env=env) as server:
        yield server, request.param


@dataclass
class Stack:
    idp: OidcServer
    client: httpx.AsyncClient

    async def sign_in(self, user: str) -> tuple[str, list[str]]:
        """A browser login through the real provider; our access token and the scopes the
        consent page offered (all approved)."""
        driver = Driver(self.client, LOGIN_HOST)
        client_id = (await driver.register())["client_id"]
        response, login = await driver.authorize(client_id, scope="files:read files:delete")
        assert response.status_code in (302, 303), response.text
        params = await browse_to_callback(response.headers["location"], login_hint=user)
        page = await self.client.get("/callback", params=params, headers={"host": LOGIN_HOST})
        page = await driver.follow(page)
        assert page.status_code == 200, page.text
        offered = ticked_scopes(page.text)
        page = await driver.answer_consent(page, "approve")
        assert page.status_code == 303, page.text
        tokens = await driver.exchange(query_of(page.headers["location"])["code"], login)
        assert tokens.status_code == 200, tokens.text
        token: str = tokens.json()["access_token"]
        return token, offered

    async def call(self, token: str, tool: str, **arguments: Any) -> httpx.Response:
        """``/authenticate`` as a gateway that forwards the body asks it."""
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        headers = {
            "host": LOGIN_HOST,
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
        }
        return await self.client.post(
            "/authenticate/mcp", content=json.dumps(body), headers=headers
        )


@pytest.fixture
async def stack(idp: tuple[OidcServer, str]) -> AsyncIterator[Stack]:
    server = idp[0]
    config = Config.model_validate(
        {
            "provider": {
                "name": "oidc",
                "clientID": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
                "issuerURL": server.issuer,
                "copyClaims": [ROLES],
            },
            "proxy": {"hosts": [{"host": LOGIN_HOST, "scopes": SCOPES, "rules": RULES}]},
        }
    )
    # https: the login cookie that binds the browser is Secure; ID tokens carry the real time.
    clock = FakeClock(time.time())
    async with running(config, clock, base_url=f"https://{LOGIN_HOST}") as (_, client):
        yield Stack(server, client)


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


async def test_an_admins_roles_reach_the_token_and_allow_the_delete(stack: Stack) -> None:
    stack.idp.set_account(
        "ann", email="ann@example.test", email_verified=True, **{ROLES: ["admin"]}
    )
    token, offered = await stack.sign_in("ann")
    assert offered == ["files:read", "files:delete"]
    assert claims_of(token)[ROLES] == ["admin"]
    assert (await stack.call(token, "delete_file", path="old.txt")).status_code == 200
    refused = await stack.call(token, "read_rows", table="salaries")
    assert refused.status_code == 403
    assert refused.json()["error_description"] == ANALYSTS_ONLY
    assert (await stack.call(token, "read_rows", table="orders")).status_code == 200


async def test_other_roles_are_not_offered_the_delete_scope(stack: Stack) -> None:
    """The consent page judges the future token by the copied claim: no delete for staff; an
    analyst reads the salaries an admin may not."""
    stack.idp.set_account(
        "bea", email="bea@example.test", email_verified=True, **{ROLES: ["staff", "analyst"]}
    )
    token, offered = await stack.sign_in("bea")
    assert offered == ["files:read"]
    assert claims_of(token)[ROLES] == ["staff", "analyst"]
    assert claims_of(token)["scope"] == "files:read"
    assert (await stack.call(token, "read_rows", table="salaries")).status_code == 200


async def test_the_claim_is_read_where_the_provider_states_it(idp: tuple[OidcServer, str]) -> None:
    """From the ID token when it is there (userinfo is then not asked), else from userinfo."""
    server, stated_in = idp
    server.set_account(
        "cy", email="cy@example.test", email_verified=True, groups=[], **{ROLES: ["admin"]}
    )
    counting = Counting()
    async with httpx.AsyncClient(transport=counting, timeout=10) as http:
        provider = OidcProvider(server.config(copyClaims=[ROLES]), http)
        redirect = await provider.begin(callback_url=CALLBACK, state="st")
        params = await browse_to_callback(redirect.url, login_hint="cy")
        identity = await provider.complete(
            callback_url=CALLBACK, params=params, secrets=redirect.secrets
        )
    assert identity.claims == {ROLES: ["admin"]}
    assert ("/me" in counting.paths) == (stated_in == "userinfo"), counting.paths
