"""What every public route (OAuth, metadata) reads from its request, read in one place.

The ``Host`` header only selects one of the configured hosts (``hosts.py``): the issuer and MCP
host of this request come from configuration, never from the header itself. Forms are read with
a cap on their size; the back-channel form (``/token``, ``/revoke``) fails with the RFC 6749 §5.2
``invalid_request`` clients read, the consent form with a page (``BrowserError``).
"""

from __future__ import annotations

from fastapi import Request

from .errors import MisdirectedRequest
from .hosts import HostRegistry, McpHost
from .http_body import BodyTooLarge, is_urlencoded, read_urlencoded
from .oauth.errors import BrowserError, InvalidRequest

#: The back-channel form: a code, a verifier, a refresh token and client credentials.
MAX_FORM_BYTES = 16_384


def request_host(request: Request) -> str | None:
    """The raw ``Host`` header: only ever used to select a configured host."""
    return request.headers.get("host")


def issuer_of(request: Request, hosts: HostRegistry) -> str:
    """The issuer of the host this request names; 421 for a host that is not configured."""
    issuer = hosts.issuer_for(request_host(request))
    if issuer is None:
        raise MisdirectedRequest("This host is not a configured MCP host or issuer")
    return issuer


def mcp_host_of(request: Request, hosts: HostRegistry) -> McpHost | None:
    """The MCP host this request came in on, if it names one (an issuer host may not)."""
    return hosts.get(request_host(request))


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form with each parameter at most once (RFC 6749 §3.2)."""
    if not is_urlencoded(request):
        raise InvalidRequest("Send the parameters as application/x-www-form-urlencoded")
    try:
        pairs = await read_urlencoded(request, MAX_FORM_BYTES)
    except BodyTooLarge as exc:
        # 400 invalid_request, not 413: RFC 6749 §5.2 errors are what OAuth clients read and
        # show; most treat any other status as an opaque HTTP failure.
        raise InvalidRequest(str(exc)) from None
    result: dict[str, str] = {}
    for name, value in pairs:
        if name in result:
            raise InvalidRequest(f"{name} is given more than once")
        result[name] = value
    return result


async def read_page_form(request: Request, max_bytes: int) -> list[tuple[str, str]]:
    """The pairs of a form a page of ours posted (none if it is not urlencoded); too large is a
    page too, since a browser is on the other end."""
    try:
        return await read_urlencoded(request, max_bytes) if is_urlencoded(request) else []
    except BodyTooLarge as exc:
        raise BrowserError(str(exc)) from None
