"""Probe check that the gateway's auth request names the host the gateway *routed* on.

HTTP/1.1 lets a client put the whole URL in the request line (absolute-form, RFC 9112 §3.2.2):
``POST https://b.example/mcp`` with ``Host: a.example``. Gateways route such a request on the
request line's host (b), as the RFC says, but ingress-nginx builds ``X-Original-URL`` from the
``Host`` header (a). With ``proxy.trustedHostHeaders: x-original-url`` mcp-gatekeeper then checks
a token against a while b's MCP server gets the request. The probe sends one such request, the
MCP URL in the request line and a made-up ``Host``, over a raw connection (no HTTP client library
sends absolute-form to an origin server): a gateway that decides on the routed host answers with
the very challenge of the MCP URL.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from .report import Outcome, Report
from .resource import INITIALIZE, REQUEST_HEADERS, bearer_params

PROBE_HOST = "mcp-gatekeeper-probe.invalid"
#: At most this much of an answer is read (the answer itself is never needed, only its headers).
_MAX_BODY = 64 * 1024
NAME = "routed host"
FIX = (
    "the auth request names the client's Host header, not the host the gateway routed on, so a "
    "token for one MCP host opens another host's MCP server. ingress-nginx: "
    "`nginx.ingress.kubernetes.io/auth-url: http://<mcp-gatekeeper service>/authenticate"
    "?host=$host&end=1` with `proxy.trustedHostHeaders: query` (X-Original-URL is built from "
    "the Host header; README: trusted host headers)"
)


@dataclass(frozen=True)
class _Answer:
    status: int
    www_authenticate: str


def _context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)


def _send(url: str, verify: bool | str, timeout: float) -> _Answer:
    """``POST <url>`` in absolute form with ``Host: PROBE_HOST``, straight to the gateway."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    connection = (
        http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=_context(verify))
        if parts.scheme == "https"
        else http.client.HTTPConnection(host, parts.port, timeout=timeout)
    )
    body = json.dumps(INITIALIZE).encode()
    try:
        connection.putrequest("POST", url, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", PROBE_HOST)
        for name, value in REQUEST_HEADERS.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read(_MAX_BODY)
        challenges = response.headers.get_all("www-authenticate") or []
        return _Answer(response.status, ", ".join(challenges))
    finally:
        connection.close()


async def check(
    report: Report, url: str, metadata_url: str, *, verify: bool | str, timeout: float
) -> None:
    """``metadata_url``: the ``resource_metadata`` of the MCP URL's own challenge."""
    routed = urlsplit(url).netloc
    try:
        answer = await asyncio.to_thread(_send, url, verify, timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        report.add(
            NAME,
            Outcome.WARN,
            f"no answer to an absolute-form request sent straight to {routed}: {exc!r}",
            "this check connects without the HTTP(S)_PROXY the other checks may use; run the "
            "probe where the gateway is reachable directly",
        )
        return
    sent = f"POST {url} with Host: {PROBE_HOST}"
    params = bearer_params(answer.www_authenticate)
    if answer.status == 401 and params.get("resource_metadata") == metadata_url:
        report.add(NAME, Outcome.PASS, f"{sent}: the challenge of {routed}, the host routed on")
    elif answer.status in (400, 421):
        report.add(
            NAME,
            Outcome.PASS,
            f"{sent}: {answer.status}, the gateway refuses a Host that is not the request line's",
        )
    elif answer.status == 403:
        report.add(
            NAME,
            Outcome.FAIL,
            f"{sent}: 403, so the host checked was the Host header's, not {routed}, the one "
            "routed on",
            FIX,
        )
    elif answer.status == 401:
        report.add(
            NAME,
            Outcome.FAIL,
            f"{sent}: 401, but not the challenge of {routed} ({answer.www_authenticate!r})",
            FIX,
        )
    elif 200 <= answer.status < 300:
        report.add(
            NAME,
            Outcome.FAIL,
            f"{sent}: {answer.status}, the MCP server answered without a token",
            "the gateway routes an absolute-form request around its forward-auth check",
        )
    else:
        report.add(
            NAME,
            Outcome.WARN,
            f"{sent}: {answer.status}, so it cannot tell which host the auth request named",
            "a gateway must route an absolute-form request on the request line's host (RFC 9112 "
            "§3.2.2) and name that host to mcp-gatekeeper; check which host its auth request "
            "carries",
        )
