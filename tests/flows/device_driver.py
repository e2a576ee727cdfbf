"""Drives the device flow (RFC 8628) in process: the device's requests and the person's browser."""

from __future__ import annotations

from typing import Any

import httpx

from mcp_gatekeeper.config import Config
from tests.flows.driver import Driver, hidden_inputs
from tests.support import config_dict

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


def device_config(hosts: list[dict[str, Any]] | None = None, **device: Any) -> Config:
    data = config_dict() if hosts is None else config_dict(hosts=hosts)
    data["grants"] = {"deviceCode": {"enabled": True, **device}}
    return Config.model_validate(data)


class DeviceDriver(Driver):
    async def register_device(self, **metadata: Any) -> dict[str, Any]:
        body = {
            "token_endpoint_auth_method": "none",
            "grant_types": [DEVICE_CODE, "refresh_token"],
            "client_name": "Headless CLI",
            **metadata,
        }
        response = await self.client.post("/register", json=body, headers={"host": self.host})
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def start(self, client_id: str, **form: str) -> httpx.Response:
        return await self.client.post(
            "/device_authorization",
            data={"client_id": client_id, **form},
            headers={"host": self.host},
        )

    async def codes(self, client_id: str, **form: str) -> dict[str, Any]:
        response = await self.start(client_id, **form)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def poll(self, client_id: str, device_code: str, **form: str) -> httpx.Response:
        return await self.token(
            {"grant_type": DEVICE_CODE, "device_code": device_code, "client_id": client_id, **form}
        )

    async def enter(self, user_code: str, **headers: str) -> httpx.Response:
        """The person opens the verification page and submits ``user_code``."""
        page = await self.client.get("/device", headers={"host": self.host, **headers})
        assert page.status_code == 200, page.text
        form = {**hidden_inputs(page.text), "user_code": user_code}
        return await self.client.post("/device", data=form, headers={"host": self.host, **headers})

    async def consent_page(self, user_code: str) -> httpx.Response:
        """Enter the code, sign in with the demo provider: the consent page."""
        entered = await self.enter(user_code)
        assert entered.status_code == 303, entered.text
        page = await self.sign_in(entered)
        assert page.status_code == 200, page.text
        return page
