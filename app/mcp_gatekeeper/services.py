"""The long-lived objects of one app, built once by ``create_app``, and the dependencies that
hand each route what it needs of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from .config import Config
from .hosts import HostRegistry, McpHost
from .keys import KeyManager
from .oauth.assertions import UsedAssertions
from .oauth.clients.machines import MachineClients
from .oauth.clients.registry import ClientRegistry
from .oauth.enterprise import EnterpriseIssuers
from .oauth.policy import refusal
from .oauth.record_stores import OAuthRecords
from .oauth.refresh_limit import RefreshLimit
from .oauth.workloads import WorkloadIssuers
from .ops.metrics import Metrics
from .providers import IdentityProvider, UpstreamIdentity
from .scopes.catalog import ScopeCatalog
from .store import Store
from .tokens import RevocationList
from .tokens.dpop import ProofVerifier
from .tokens.dpop_nonce import DpopNonces


def same_resource(given: str, canonical: str) -> bool:
    """RFC 8707 resources compared with or without one trailing slash: clients differ on
    ``https://host/mcp`` vs ``https://host/mcp/`` (and on ``https://host`` vs ``https://host/``),
    and either way they mean the one MCP server whose canonical URI the token names."""
    return given.removesuffix("/") == canonical.removesuffix("/")


@dataclass
class Services:
    config: Config
    hosts: HostRegistry
    #: Only for the components that own a namespace of their own; OAuth records go through
    #: ``records``.
    store: Store
    keys: KeyManager
    metrics: Metrics
    revocations: RevocationList
    clock: Callable[[], float]
    scopes: ScopeCatalog
    clients: ClientRegistry
    provider: IdentityProvider
    records: OAuthRecords
    refresh_limit: RefreshLimit
    #: For what the service fetches from elsewhere (key sets of assertion signers).
    http: httpx.AsyncClient
    used_assertions: UsedAssertions
    #: RFC 9449 at /token: proofs checked here; their jti kept single use through the store.
    dpop_proofs: ProofVerifier
    dpop_nonces: DpopNonces
    #: Machine clients for client credentials: configured and made by an administrator.
    machines: MachineClients
    #: The trusted issuers of workload JWTs (jwt-bearer grant), their keys fetched and kept.
    workloads: WorkloadIssuers
    #: The enterprise IdPs whose ID-JAGs are honoured (enterprise-managed authorization).
    enterprise: EnterpriseIssuers

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


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_hosts(request: Request) -> HostRegistry:
    return get_services(request).hosts


def get_keys(request: Request) -> KeyManager:
    return get_services(request).keys


ServicesDep = Annotated[Services, Depends(get_services)]
HostsDep = Annotated[HostRegistry, Depends(get_hosts)]
KeysDep = Annotated[KeyManager, Depends(get_keys)]
