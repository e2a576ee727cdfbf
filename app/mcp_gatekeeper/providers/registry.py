"""Which class serves which ``provider.name``, checked against the Protocol by mypy.

``_FACTORIES`` is typed as returning ``IdentityProvider``: assigning a class there makes mypy
prove that its instances satisfy the Protocol (method names, keyword-only parameters, return
types), so a provider cannot drift from ``base.IdentityProvider`` unnoticed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from ..config.provider import ProviderConfig
from .base import IdentityProvider
from .demo import DemoProvider
from .github import GitHubProvider
from .google import GoogleProvider
from .oidc import OidcProvider

Clock = Callable[[], float]
Factory = Callable[[ProviderConfig, httpx.AsyncClient, Clock], IdentityProvider]


def _demo(config: ProviderConfig, http: httpx.AsyncClient, clock: Clock) -> IdentityProvider:
    return DemoProvider()


_FACTORIES: dict[str, Factory] = {
    "oidc": OidcProvider,
    "google": GoogleProvider,
    "github": GitHubProvider,
    "demo": _demo,
}


def build_provider(
    config: ProviderConfig, http: httpx.AsyncClient, clock: Clock = time.time
) -> IdentityProvider:
    """The provider ``config`` names, sharing the service's HTTP client and clock.

    Raises ``ValueError`` for a configuration the provider cannot use (a bad service-account key).
    """
    try:
        factory = _FACTORIES[config.name]
    except KeyError:
        raise ValueError(f"unknown identity provider {config.name!r}") from None
    return factory(config, http, clock)
