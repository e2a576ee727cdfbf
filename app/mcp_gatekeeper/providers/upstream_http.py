"""HTTP plumbing shared by the upstream providers: JSON calls, paging, PKCE, form-encoded auth.

Every failure to talk to the IdP becomes ``ProviderError`` (not the user's fault); callers
decide which answers mean ``LoginDenied``.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx

from .. import bounded_json
from .base import ProviderError

#: No real user is in more groups than this many pages; the cap stops a broken (or hostile)
#: upstream from making a login loop forever.
MAX_PAGES = 50
#: OAuth error codes are registry words (RFC 6749 §4.1.2.1); anything else is not echoed.
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def error_code(value: object) -> str | None:
    """An upstream ``error`` value safe to log and show, or None. Callback parameters are
    attacker-controlled (anyone can craft the URL), so free text is never repeated."""
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else None


def random_token() -> str:
    """256 bits from the OS CSPRNG, URL-safe (RFC 7636 §7.1: verifier entropy >= 256 bits)."""
    return secrets.token_urlsafe(32)


def basic_auth(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded *before* base64 (as Go's oauth2 does)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


async def send(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; transport failures become ``ProviderError`` naming the host."""
    try:
        return await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderError(f"cannot reach {host_of(url)}: {exc!r}") from exc


def json_body(response: httpx.Response) -> Any:
    try:
        return bounded_json.loads(response.content)
    except ValueError as exc:
        raise ProviderError(
            f"{host_of(str(response.url))} answered {response.status_code} with a non-JSON body"
        ) from exc


def json_object(response: httpx.Response) -> dict[str, Any]:
    body = json_body(response)
    if not isinstance(body, dict):
        raise ProviderError(f"{host_of(str(response.url))} answered with JSON that is no object")
    return body


def expect_ok(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code != 200:
        raise ProviderError(
            f"{what} failed: {host_of(str(response.url))} answered {response.status_code}"
        )
    return response


def same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


async def get_pages(
    http: httpx.AsyncClient, url: str, headers: Mapping[str, str], what: str
) -> list[httpx.Response]:
    """GET ``url`` and every page after it through ``Link: <...>; rel="next"`` (RFC 8288).

    The next URL must stay on the first URL's origin: it comes from the upstream's answer and the
    request carries the user's token, which must never go anywhere else.
    """
    pages: list[httpx.Response] = []
    next_url: str | None = url
    while next_url is not None:
        if len(pages) >= MAX_PAGES:
            raise ProviderError(f"{what}: more than {MAX_PAGES} pages")
        if not same_origin(next_url, url):
            raise ProviderError(f"{what}: the next page is on another host ({host_of(next_url)})")
        response = await send(http, "GET", next_url, headers=headers)
        pages.append(response)
        if response.status_code != 200:
            break
        next_url = response.links.get("next", {}).get("url")
    return pages


#: The longest a token answer may say its token lives (``expires_in``): one year.
MAX_LIFETIME = 365 * 24 * 3600


def lifetime_of(expires_in: Any) -> float | None:
    """A token answer's ``expires_in`` in seconds, if it is a finite positive number of at most
    ``MAX_LIFETIME``; else None, as if the answer stated none (the host's ``defaultLifetime``
    bounds the cached credential then). Compared before any conversion: a huge integer is
    refused, not an ``OverflowError``, and Infinity or NaN never make a credential that does
    not go stale."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return None
    if not 0 < expires_in <= MAX_LIFETIME:
        return None
    return float(expires_in)
