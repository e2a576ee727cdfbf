"""Probe checks of discovery, in the order an MCP client follows it: protected-resource metadata
(RFC 9728), authorization-server metadata (RFC 8414 / OIDC, the MCP spec's URL order), JWKS, and
that the authorization server's endpoints are routed to mcp-gatekeeper without forward-auth."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from .. import bounded_json
from ..paths import AS_METADATA_PATH, OPENID_CONFIGURATION_PATH, PRM_PATH
from ..scopes.mcp_wire import HANDSHAKE_VERSION as PROTOCOL_VERSION
from .report import Outcome, Report
from .resource import bearer_params

META_HEADERS = {"accept": "application/json", "mcp-protocol-version": PROTOCOL_VERSION}
BROWSER_ORIGIN = "http://localhost:6274"
NOT_ROUTED = (
    "route the authorization-server paths (`mcp-gatekeeper paths` lists them) on this host to "
    "mcp-gatekeeper, without forward-auth (examples/ has them for each gateway)"
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def _json(client: httpx.AsyncClient, url: str) -> tuple[int, Any]:
    response = await client.get(url, headers=META_HEADERS)
    try:
        return response.status_code, bounded_json.loads(response.content)
    except ValueError:
        return response.status_code, None


def _as_metadata_urls(issuer: str) -> list[str]:
    """Where MCP clients look for the metadata of ``issuer``, in their order."""
    origin, path = _origin(issuer), urlsplit(issuer).path.rstrip("/")
    if not path:
        return [f"{origin}{AS_METADATA_PATH}", f"{origin}{OPENID_CONFIGURATION_PATH}"]
    return [
        f"{origin}{AS_METADATA_PATH}{path}",
        f"{origin}{OPENID_CONFIGURATION_PATH}{path}",
        f"{issuer.rstrip('/')}{OPENID_CONFIGURATION_PATH}",
    ]


async def resource_metadata(
    report: Report, client: httpx.AsyncClient, url: str, metadata_url: str
) -> str | None:
    """The protected-resource metadata; the issuer it names, or None if it is unusable."""
    status, document = await _json(client, metadata_url)
    if status != 200 or not isinstance(document, dict):
        # mcp-gatekeeper never answers its metadata with 401: forward-auth did.
        through = ", the forward-auth challenge" if status == 401 else ""
        detail = f"{status} from {metadata_url}{through}"
        report.add("resource metadata", Outcome.FAIL, detail, NOT_ROUTED)
        return None
    resource, servers = document.get("resource"), document.get("authorization_servers")
    if not isinstance(resource, str) or not (
        _origin(resource) == _origin(url) and urlsplit(url).path.startswith(urlsplit(resource).path)
    ):
        report.add(
            "resource metadata",
            Outcome.FAIL,
            f"resource {resource!r} is not {url} or a parent of it: SDK clients stop here",
            "the URL clients use must be the host's canonical resource: check proxy.hosts[].host "
            "(port), .path and the scheme (https unless loopback)",
        )
        return None
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        report.add("resource metadata", Outcome.FAIL, "no authorization_servers")
        return None
    report.add("resource metadata", Outcome.PASS, f"resource {resource}, issuer {servers[0]}")
    path = urlsplit(url).path.rstrip("/")
    fallbacks = [f"{_origin(url)}{PRM_PATH}{path}", f"{_origin(url)}{PRM_PATH}"]
    missing = [each for each in fallbacks if (await _json(client, each))[0] != 200]
    if missing:
        report.add(
            "well-known fallback",
            Outcome.WARN,
            f"not served: {', '.join(missing)}",
            "clients that ignore the challenge's resource_metadata look there: " + NOT_ROUTED,
        )
    else:
        report.add("well-known fallback", Outcome.PASS, "path-suffixed and root metadata served")
    return servers[0]


async def authorization_server(
    report: Report, client: httpx.AsyncClient, issuer: str
) -> dict[str, Any] | None:
    """The issuer's metadata, found where clients look for it, and checked as they check it."""
    for url in _as_metadata_urls(issuer):
        status, document = await _json(client, url)
        if status == 200 and isinstance(document, dict):
            break
    else:
        report.add(
            "server metadata", Outcome.FAIL, f"none of {_as_metadata_urls(issuer)}", NOT_ROUTED
        )
        return None
    problems = []
    if document.get("issuer") != issuer:
        problems.append(
            f"issuer {document.get('issuer')!r} is not {issuer!r} (clients compare bytes)"
        )
    problems += [f"no {field}" for field in ("authorization_endpoint", "token_endpoint")
                 if not isinstance(document.get(field), str)]  # fmt: skip
    if "S256" not in (document.get("code_challenge_methods_supported") or []):
        problems.append("code_challenge_methods_supported lacks S256 (clients must refuse)")
    if problems:
        report.add("server metadata", Outcome.FAIL, "; ".join(problems))
        return None
    report.add("server metadata", Outcome.PASS, f"from {url}")
    return document


async def jwks(report: Report, client: httpx.AsyncClient, metadata: dict[str, Any]) -> None:
    uri = metadata.get("jwks_uri")
    if not isinstance(uri, str):
        report.add("jwks", Outcome.WARN, "no jwks_uri: MCP servers cannot verify tokens themselves")
        return
    status, document = await _json(client, uri)
    keys = document.get("keys") if isinstance(document, dict) else None
    if status == 200 and isinstance(keys, list) and keys:
        report.add("jwks", Outcome.PASS, f"{len(keys)} key(s)")
    else:
        report.add("jwks", Outcome.FAIL, f"{status} from {uri}, or no keys", NOT_ROUTED)


def _answered_by_oauth(response: httpx.Response, page: bool = False) -> bool:
    """An OAuth error from the authorization server, not forward-auth's challenge or a 404.

    ``page``: the authorization endpoint, which answers a request it cannot trust with a 400
    page for the person in the browser, never with JSON or a redirect."""
    if "resource_metadata" in bearer_params(response.headers.get("www-authenticate", "")):
        return False
    if page:
        return response.status_code == 400
    try:
        body = bounded_json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str)


async def endpoints(report: Report, client: httpx.AsyncClient, metadata: dict[str, Any]) -> None:
    """Each endpoint answers a harmless wrong request the way only the authorization server can."""
    token, authorize = metadata["token_endpoint"], metadata["authorization_endpoint"]
    calls = [("token endpoint", client.build_request("POST", token, data={"grant_type": "probe"}))]
    registration = metadata.get("registration_endpoint")
    if isinstance(registration, str):
        calls.append(("registration endpoint", client.build_request("POST", registration, json={})))
    else:
        report.add(
            "registration endpoint",
            Outcome.WARN,
            "no registration_endpoint: clients without a metadata document cannot register",
            "clients.registrationEnabled",
        )
    calls.append(("authorization endpoint", client.build_request("GET", authorize)))
    for name, request in calls:
        response = await client.send(request)
        if _answered_by_oauth(response, page=name == "authorization endpoint"):
            report.add(name, Outcome.PASS, f"answered by the authorization server ({request.url})")
        else:
            report.add(name, Outcome.FAIL, f"{response.status_code} from {request.url}", NOT_ROUTED)
    preflight = await client.options(
        metadata["token_endpoint"],
        headers={
            "origin": BROWSER_ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, mcp-protocol-version",
        },
    )
    if preflight.headers.get("access-control-allow-origin") in ("*", BROWSER_ORIGIN):
        report.add("cors", Outcome.PASS, "browser clients may call the token endpoint")
    else:
        report.add(
            "cors",
            Outcome.WARN,
            f"no Access-Control-Allow-Origin on a preflight to the token endpoint "
            f"({preflight.status_code})",
            "browser-based clients (MCP Inspector) cannot sign in: let mcp-gatekeeper answer "
            "OPTIONS on the authorization-server paths",
        )
