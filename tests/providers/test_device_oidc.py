"""The device flow with the real OpenID provider as upstream: the person signs in there, the
access policy applies to the device sign-in as to a browser login, and the device gets its token."""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

from mcp_gatekeeper.config import Config
from tests.flows.device_driver import DeviceDriver
from tests.support import FakeClock, running

from .oidc_server import CLIENT_ID, CLIENT_SECRET, OidcServer, browse_to_callback

MCP = "mcp.example.test"  # the host whose callback the provider has registered


def config(oidc_server: OidcServer, **host: Any) -> Config:
    return Config.model_validate(
        {
            "proxy": {"hosts": [{"host": MCP, "scopes": [{"name": "read"}], **host}]},
            "provider": {
                "name": "oidc",
                "clientID": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
                "issuerURL": oidc_server.issuer,
            },
            "grants": {"deviceCode": {"enabled": True}},
        }
    )


async def sign_in(driver: DeviceDriver, user_code: str, sub: str) -> dict[str, str]:
    """Enter the code and sign in at the provider as ``sub``: the callback's query."""
    entered = await driver.enter(user_code)
    assert entered.status_code == 303, entered.text
    return await browse_to_callback(entered.headers["location"], login_hint=sub)


async def test_device_sign_in_through_the_openid_provider(oidc_server: OidcServer) -> None:
    sub = f"u-{secrets.token_hex(4)}"
    oidc_server.set_account(sub, email=f"{sub}@corp.test", email_verified=True, groups=["dev"])
    clock = FakeClock(time.time())  # ID tokens are checked against this clock
    async with running(config(oidc_server), clock, base_url=f"https://{MCP}") as (_app, client):
        driver = DeviceDriver(client, host=MCP)
        registered = await driver.register_device()
        codes = await driver.codes(registered["client_id"])
        callback = await client.get(
            "/callback", params=await sign_in(driver, codes["user_code"], sub)
        )
        page = await driver.follow(callback)
        assert page.status_code == 200 and codes["user_code"] in page.text
        assert f"{sub}@corp.test" in page.text
        done = await driver.answer_consent(page, "approve")
        assert done.status_code == 200 and "return to your device" in done.text
        tokens = await driver.poll(registered["client_id"], codes["device_code"])
        assert tokens.status_code == 200, tokens.text
        claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
        assert (claims["sub"], claims["groups"]) == (sub, ["dev"])
        assert claims["aud"] == f"https://{MCP}/mcp"


async def test_the_host_policy_applies_to_device_sign_ins(oidc_server: OidcServer) -> None:
    """A user outside the host's groups is refused at the callback; the device keeps waiting."""
    sub = f"u-{secrets.token_hex(4)}"
    oidc_server.set_account(sub, email=f"{sub}@corp.test", email_verified=True, groups=["dev"])
    clock = FakeClock(time.time())
    settings = config(oidc_server, allowedGroups=["dba"])
    async with running(settings, clock, base_url=f"https://{MCP}") as (_app, client):
        driver = DeviceDriver(client, host=MCP)
        registered = await driver.register_device()
        codes = await driver.codes(registered["client_id"])
        callback = await client.get(
            "/callback", params=await sign_in(driver, codes["user_code"], sub)
        )
        assert callback.status_code == 403 and "cannot sign in" in callback.text
        pending = await driver.poll(registered["client_id"], codes["device_code"])
        assert pending.json()["error"] == "authorization_pending"
