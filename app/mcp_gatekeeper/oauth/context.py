"""Everything the authorization-server flows need, built once in ``create_app``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..config import Config
from ..discovery.scopes import ScopeCatalog
from ..hosts import HostRegistry, McpHost
from ..keys import KeyManager
from ..providers import IdentityProvider, UpstreamIdentity
from ..store import Store
from ..tokens import RevocationList
from .clients.registry import ClientRegistry
from .policy import refusal
from .refresh_limit import RefreshLimit
from .sealed import RecordCodec


def same_resource(given: str, canonical: str) -> bool:
    """RFC 8707 resources compared with or without one trailing slash: clients differ on
    ``https://host/mcp`` vs ``https://host/mcp/`` (and on ``https://host`` vs ``https://host/``),
    and either way they mean the one MCP server whose canonical URI the token names."""
    return given.removesuffix("/") == canonical.removesuffix("/")


@dataclass
class OAuthContext:
    config: Config
    hosts: HostRegistry
    store: Store
    keys: KeyManager
    clients: ClientRegistry
    provider: IdentityProvider
    revocations: RevocationList
    clock: Callable[[], float]
    scopes: ScopeCatalog
    #: Every record in ``records.py`` goes to and from ``store`` through this.
    records: RecordCodec
    refresh_limit: RefreshLimit

    def host_for_resource(self, resource: str) -> McpHost | None:
        for host in self.hosts.hosts:
            if same_resource(resource, host.resource):
                return host
        return None

    def refusal_for(self, identity: UpstreamIdentity, resource: str) -> str | None:
        """Why ``identity`` may not use ``resource``: the instance policy and the host's, at
        login and at every re-check alike."""
        host = self.host_for_resource(resource)
        return refusal(identity, [self.config.provider] + ([host.config] if host else []))


def get_oauth(request: Request) -> OAuthContext:
    context: OAuthContext = request.app.state.oauth
    return context


OAuthDep = Annotated[OAuthContext, Depends(get_oauth)]
