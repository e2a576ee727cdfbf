"""Every path the service answers, in one place.

``AUTHORIZATION_SERVER_PATHS`` is the list a gateway must route to mcp-gatekeeper on every MCP
host (and on the central issuer's host): the Helm chart, the examples and the tests read it, and
``mcp-gatekeeper paths`` prints it. Everything else on an MCP host goes to the MCP server behind
the forward-auth check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AUTHENTICATE_PATH = "/authenticate"
PRM_PATH = "/.well-known/oauth-protected-resource"
AS_METADATA_PATH = "/.well-known/oauth-authorization-server"
OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"
AUTHORIZE_PATH = "/authorize"
CALLBACK_PATH = "/callback"
CONSENT_PATH = "/consent"
TOKEN_PATH = "/token"  # noqa: S105 (a path)
REGISTER_PATH = "/register"
REVOKE_PATH = "/revoke"
#: RFC 8628: where a device asks for codes, and the page where the user enters one.
DEVICE_AUTHORIZATION_PATH = "/device_authorization"
DEVICE_PATH = "/device"
DEMO_LOGIN_PATH = "/demo/login"
#: A user's connected accounts at upstream APIs (proxy.hosts[].upstream): listed and disconnected.
CONNECTED_ACCOUNTS_PATH = "/connected-accounts"
HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class RoutedPath:
    path: str
    #: "exact", or "prefix" for a path and everything below it.
    match: Literal["exact", "prefix"]


AUTHORIZATION_SERVER_PATHS: tuple[RoutedPath, ...] = (
    RoutedPath(PRM_PATH, "prefix"),
    RoutedPath(AS_METADATA_PATH, "exact"),
    RoutedPath(OPENID_CONFIGURATION_PATH, "exact"),
    RoutedPath(JWKS_PATH, "exact"),
    RoutedPath(AUTHORIZE_PATH, "exact"),
    RoutedPath(CALLBACK_PATH, "exact"),
    RoutedPath(CONSENT_PATH, "exact"),
    RoutedPath(TOKEN_PATH, "exact"),
    RoutedPath(REGISTER_PATH, "exact"),
    RoutedPath(REVOKE_PATH, "exact"),
    RoutedPath(DEVICE_AUTHORIZATION_PATH, "exact"),
    RoutedPath(DEVICE_PATH, "exact"),
    RoutedPath(DEMO_LOGIN_PATH, "exact"),
    RoutedPath(CONNECTED_ACCOUNTS_PATH, "exact"),
)

#: Route templates for metrics labels (bounded cardinality).
EXACT_ROUTES = frozenset(
    {
        AUTHENTICATE_PATH,
        HEALTHZ_PATH,
        READYZ_PATH,
        METRICS_PATH,
        *(routed.path for routed in AUTHORIZATION_SERVER_PATHS),
    }
)
PREFIX_ROUTES = (AUTHENTICATE_PATH + "/", PRM_PATH + "/")
