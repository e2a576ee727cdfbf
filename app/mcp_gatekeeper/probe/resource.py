"""Probe checks at the MCP URL itself, through the gateway, as an MCP client meets it.

An ``initialize`` POST without a token must be challenged (401 with ``resource_metadata``), a bad
token refused, a client's own host headers ignored, and (optionally) a real token let through.
"""

from __future__ import annotations

import re

import httpx

from .. import __version__
from ..scopes.mcp_wire import ACCEPT
from ..scopes.mcp_wire import HANDSHAKE_VERSION as PROTOCOL_VERSION
from .report import Outcome, Report

REQUEST_HEADERS = {
    "accept": ACCEPT,
    "content-type": "application/json",
    "mcp-protocol-version": PROTOCOL_VERSION,
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcp-gatekeeper-probe", "version": __version__},
    },
}
SPOOFED_HOST = "probe-spoofed-host.invalid"
#: What a client could send to steer which host's audience is checked.
SPOOFING_HEADERS = {
    "x-forwarded-host": SPOOFED_HOST,
    "x-forwarded-proto": "https",
    "x-forwarded-uri": "/probe-spoofed",
    "x-original-url": f"https://{SPOOFED_HOST}/probe-spoofed",
    "x-original-host": SPOOFED_HOST,
    "forwarded": f"host={SPOOFED_HOST};proto=https",
}
_PARAM = re.compile(r'([a-zA-Z_]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')

_STATUS_HINTS = {
    2: (
        "the MCP server answered without a token: the gateway does not send this route to "
        "mcp-gatekeeper's /authenticate (auth-url, ext_authz or forwardAuth is missing)"
    ),
    3: (
        "a redirect: a browser sign-in proxy answers here. MCP clients need 401 with "
        "WWW-Authenticate: point the gateway's auth at /authenticate, not at a login page"
    ),
    5: (
        "the gateway got no answer from mcp-gatekeeper (is the auth URL right, the service up, "
        "a NetworkPolicy in the way?)"
    ),
}


def bearer_params(header: str) -> dict[str, str]:
    """The auth-params of a ``Bearer`` challenge (RFC 6750 §3), quoted or not."""
    if not header.lower().startswith("bearer"):
        return {}
    return {key.lower(): quoted or bare for key, quoted, bare in _PARAM.findall(header[6:])}


def _status_hint(response: httpx.Response) -> str:
    if response.status_code == 403:
        return (
            "refused before any token was looked at: mcp-gatekeeper does not know the host it saw. "
            "Check proxy.hosts[].host (with the port if not 443) and proxy.trustedHostHeaders for "
            "this gateway; the service logs the host of every refusal"
        )
    if response.status_code == 404:
        return "nothing here: is this the MCP URL, path included?"
    return _STATUS_HINTS.get(
        response.status_code // 100, "not what a gateway in front of MCP sends"
    )


async def _initialize(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(url, json=INITIALIZE, headers=REQUEST_HEADERS | (headers or {}))


async def challenge(report: Report, client: httpx.AsyncClient, url: str) -> str | None:
    """The unauthenticated request: the ``resource_metadata`` URL, or None if it failed."""
    try:
        response = await _initialize(client, url)
    except httpx.HTTPError as exc:
        report.add("challenge", Outcome.FAIL, f"no answer from {url}: {exc}")
        return None
    if response.status_code != 401:
        location = response.headers.get("location", "")
        detail = f"{response.status_code} without a token" + (
            f" (to {location})" if location else ""
        )
        report.add("challenge", Outcome.FAIL, detail, _status_hint(response))
        return None
    params = bearer_params(response.headers.get("www-authenticate", ""))
    if "resource_metadata" not in params:
        report.add(
            "challenge",
            Outcome.FAIL,
            "401, but without WWW-Authenticate: Bearer resource_metadata=...",
            "the gateway drops the auth service's WWW-Authenticate (ingress-nginx: leave "
            "auth-keepalive and auth-signin unset, no 401 in custom-http-errors)",
        )
        return None
    scope = f", scope {params['scope']!r}" if "scope" in params else ""
    report.add("challenge", Outcome.PASS, f"401 with resource_metadata{scope}")
    exposed = response.headers.get("access-control-expose-headers", "").lower()
    if "www-authenticate" in exposed or exposed == "*":
        report.add("browser clients", Outcome.PASS, "the challenge is exposed to browser code")
    else:
        report.add(
            "browser clients",
            Outcome.WARN,
            "Access-Control-Expose-Headers does not name WWW-Authenticate",
            "browser-based clients (MCP Inspector) cannot read the challenge: let the gateway "
            "pass mcp-gatekeeper's CORS headers on 401",
        )
    await _spoofing(report, client, url, response)
    await _bad_token(report, client, url)
    return params["resource_metadata"]


async def _spoofing(
    report: Report, client: httpx.AsyncClient, url: str, baseline: httpx.Response
) -> None:
    spoofed = await _initialize(client, url, SPOOFING_HEADERS)
    same = spoofed.status_code == baseline.status_code and spoofed.headers.get(
        "www-authenticate"
    ) == baseline.headers.get("www-authenticate")
    if same:
        report.add("host headers", Outcome.PASS, "client-sent X-Forwarded-Host etc. change nothing")
        return
    report.add(
        "host headers",
        Outcome.FAIL,
        f"with client-sent host headers the answer changed ({spoofed.status_code}: "
        f"{spoofed.headers.get('www-authenticate', spoofed.text[:100])})",
        "a client can choose which host's audience is checked: set proxy.trustedHostHeaders to "
        "the header family this gateway sets and overwrites (README: trusted host headers)",
    )


async def _bad_token(report: Report, client: httpx.AsyncClient, url: str) -> None:
    response = await _initialize(client, url, {"authorization": "Bearer probe-invalid-token"})
    params = bearer_params(response.headers.get("www-authenticate", ""))
    if response.status_code == 401 and params.get("error") == "invalid_token":
        report.add("invalid token", Outcome.PASS, '401 error="invalid_token"')
    elif response.status_code == 401:
        report.add(
            "invalid token",
            Outcome.WARN,
            '401, without error="invalid_token"',
            "the gateway replaced mcp-gatekeeper's challenge",
        )
    else:
        report.add(
            "invalid token",
            Outcome.FAIL,
            f"{response.status_code} for a made-up token",
            _status_hint(response),
        )


async def with_token(report: Report, client: httpx.AsyncClient, url: str, token: str) -> None:
    """A token the operator obtained: it must get through to the MCP server."""
    response = await _initialize(client, url, {"authorization": f"Bearer {token}"})
    params = bearer_params(response.headers.get("www-authenticate", ""))
    if response.status_code == 403 and params.get("error") == "insufficient_scope":
        # The token is good here; it just does not cover every tool, and this wiring does not
        # show mcp-gatekeeper what an initialize calls.
        report.add(
            "token",
            Outcome.WARN,
            "accepted, but a POST whose tool mcp-gatekeeper cannot see needs a token for every "
            f"tool (403 insufficient_scope, scope={params.get('scope', '')!r})",
            "let the gateway forward the body to /authenticate (Envoy with_request_body, "
            "Traefik forwardBody), or sign in with every scope",
        )
    elif response.status_code in (401, 403):
        reason = params.get("error_description") or params.get("error") or response.text[:200]
        report.add(
            "token",
            Outcome.FAIL,
            f"{response.status_code}: {reason}",
            "a token is valid for one MCP URL only (its aud), until it expires",
        )
    else:
        report.add("token", Outcome.PASS, f"the MCP server answered {response.status_code}")
