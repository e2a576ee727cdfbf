"""A headless command line with the device flow, through a real gateway (Traefik): it gets its
codes, a person approves in a browser (demo login), and the real MCP SDK client calls a tool with
the polled token; without a token the gateway refuses it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_gatekeeper.config import Config
from tests.e2e.stack import HOST_A, _gateway_in_front, gatekeeper, host_entry
from tests.flows.device_driver import DEVICE_CODE
from tests.flows.driver import hidden_inputs, ticked_scopes
from tests.integration.harness import trusted_host_headers
from tests.integration.harness.ports import LOOPBACK

pytestmark = pytest.mark.gateway
GATEWAY = "traefik"


@contextmanager
def device_stack(workdir: Path) -> Iterator[str]:
    """Traefik, the notes server and mcp-gatekeeper (demo login, device flow on): the origin."""
    with ExitStack() as stack:
        sock, gw, notes_port = _gateway_in_front(stack, GATEWAY, workdir, None)
        settings = {
            "proxy": {
                "hosts": [{"host": f"{HOST_A}:{gw.port}", **host_entry(notes_port)}],
                "trustedHostHeaders": trusted_host_headers(GATEWAY, None),
            },
            "grants": {"deviceCode": {"enabled": True, "interval": "1s"}},
            "server": {"host": LOOPBACK},
        }
        stack.enter_context(gatekeeper(Config.model_validate(settings), sock))
        yield f"http://{HOST_A}:{gw.port}"


async def approve_in_browser(verification_uri_complete: str) -> str:
    """A person opens the link, presses Continue, signs in, allows: the last page's text."""
    async with httpx.AsyncClient(trust_env=False, timeout=15) as browser:
        page = await browser.get(verification_uri_complete)
        form = hidden_inputs(page.text)
        form["user_code"] = verification_uri_complete.rsplit("user_code=", 1)[1]
        response = await browser.post(str(page.url), data=form)
        for _ in range(10):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                response = await browser.get(location)
            elif 'name="decision"' in response.text:
                fields: dict[str, Any] = {**hidden_inputs(response.text), "decision": "approve"}
                fields["scope"] = ticked_scopes(response.text)
                response = await browser.post(urljoin(str(response.url), "/consent"), data=fields)
                return response.text
            else:  # the demo provider's sign-in button (a GET form to /callback)
                query = hidden_inputs(response.text)
                response = await browser.get(urljoin(str(response.url), "/callback"), params=query)
        raise AssertionError("the browser never reached the consent page")


async def test_device_token_calls_a_tool_through_the_gateway(tmp_path: Path) -> None:
    with device_stack(tmp_path) as origin:
        async with httpx.AsyncClient(base_url=origin, trust_env=False, timeout=15) as cli:
            registered = await cli.post(
                "/register",
                json={
                    "client_name": "notes-cli",
                    "token_endpoint_auth_method": "none",
                    "grant_types": [DEVICE_CODE, "refresh_token"],
                },
            )
            assert registered.status_code == 201, registered.text
            client_id = registered.json()["client_id"]
            codes = (
                await cli.post(
                    "/device_authorization", data={"client_id": client_id, "scope": "notes:read"}
                )
            ).json()
            assert codes["verification_uri"] == f"{origin}/device"
            poll = {"grant_type": DEVICE_CODE, "device_code": codes["device_code"]}
            pending = await cli.post("/token", data={**poll, "client_id": client_id})
            assert pending.json()["error"] == "authorization_pending"
            done = await approve_in_browser(codes["verification_uri_complete"])
            assert "return to your device" in done and "notes-cli" in done
            await asyncio.sleep(codes["interval"])
            tokens = await cli.post("/token", data={**poll, "client_id": client_id})
            assert tokens.status_code == 200, tokens.text
            assert tokens.json()["scope"] == "notes:read"
        bearer = {"authorization": f"Bearer {tokens.json()['access_token']}"}
        async with (
            httpx2.AsyncClient(headers=bearer, trust_env=False, timeout=15) as http,
            Client(streamable_http_client(f"{origin}/mcp", http_client=http)) as mcp,
        ):
            result = await mcp.call_tool("whoami", {})
            assert not result.is_error and result.structured_content is not None
            assert result.structured_content["user"] == "demo"
            notes = await mcp.call_tool("list_notes", {})
            assert not notes.is_error
        async with httpx.AsyncClient(trust_env=False, timeout=15) as anonymous:
            refused = await anonymous.post(f"{origin}/mcp", json={})
            assert refused.status_code == 401
