"""The demo identity provider: one fixed user, for trying mcp-gatekeeper on a laptop.

Its "login page" is served by mcp-gatekeeper itself and signs in ``demo@example.com`` at a click.
The configuration refuses it unless the service listens on loopback only.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..paths import DEMO_LOGIN_PATH
from .base import LoginRedirect, ProviderError, UpstreamIdentity

DEMO_CODE = "demo-user-approved"
DEMO_USER = UpstreamIdentity(
    subject="demo",
    email="demo@example.com",
    email_verified=True,
    groups=("demo",),
    name="Demo User",
)


class DemoProvider:
    async def begin(self, *, callback_url: str, state: str) -> LoginRedirect:
        parts = urlsplit(callback_url)
        query = urlencode({"state": state})
        return LoginRedirect(
            urlunsplit((parts.scheme, parts.netloc, DEMO_LOGIN_PATH, query, "")), {}
        )

    async def complete(
        self, *, callback_url: str, params: Mapping[str, str], secrets: Mapping[str, str]
    ) -> UpstreamIdentity:
        if params.get("code") != DEMO_CODE:
            raise ProviderError("the demo login was not completed")
        return DEMO_USER

    async def recheck(self, identity: UpstreamIdentity) -> UpstreamIdentity:
        return identity
