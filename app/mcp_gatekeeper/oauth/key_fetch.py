"""Fetching a signer's public keys (a JWKS) over HTTP, directly or through its OpenID discovery
document: bounded in size and time, and never trusted beyond what the configuration named.

The discovery document must be the configured issuer's (its ``issuer`` equal to it, OIDC
Discovery §4.3: otherwise another issuer's document, served at that URL, would name its keys) and
its ``jwks_uri`` https (http only on loopback, as the configuration requires of every URL we
fetch keys from). Redirects are not followed. Every failure is ``KeysUnavailable`` with a
description for the log, which may name hosts and addresses: it is not for clients.
"""

from __future__ import annotations

from typing import Any

import httpx

from .. import bounded_json
from ..config.jwks import https_url

#: A JWKS or discovery document larger than this is not a signer's (a handful of keys is ~2 KB).
MAX_KEYS_BYTES = 65_536
#: Seconds for one fetch, connecting included; requests wait on it.
FETCH_TIMEOUT = 5.0
DISCOVERY_PATH = "/.well-known/openid-configuration"


class KeysUnavailable(Exception):
    """The keys could not be fetched; the message is for the operator's log."""


async def fetch_jwks(
    http: httpx.AsyncClient, *, jwks_uri: str | None, discovery_issuer: str | None
) -> dict[str, Any]:
    """The JWKS at ``jwks_uri``, or at the ``jwks_uri`` of ``discovery_issuer``'s discovery
    document."""
    if jwks_uri is None:
        if discovery_issuer is None:
            raise KeysUnavailable("no jwks_uri and no issuer to discover it from")
        jwks_uri = await _discovered_jwks_uri(http, discovery_issuer)
    return await fetch_json(http, jwks_uri, "JWKS")


async def _discovered_jwks_uri(http: httpx.AsyncClient, issuer: str) -> str:
    document = await fetch_json(http, issuer.rstrip("/") + DISCOVERY_PATH, "discovery document")
    if document.get("issuer") != issuer:
        raise KeysUnavailable(
            f"the discovery document of {issuer} names the issuer {document.get('issuer')!r:.200}"
        )
    uri = document.get("jwks_uri")
    try:
        if not isinstance(uri, str):
            raise ValueError(uri)
        return https_url(uri)
    except ValueError:
        raise KeysUnavailable(
            f"the discovery document of {issuer} names no https jwks_uri ({uri!r:.200})"
        ) from None


async def fetch_json(http: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
    """The JSON object at ``url``: 200 OK, at most ``MAX_KEYS_BYTES``, within the timeout."""
    body = bytearray()
    try:
        async with http.stream("GET", url, timeout=FETCH_TIMEOUT) as answer:
            if answer.status_code != 200:
                raise KeysUnavailable(f"the {what} at {url} answered {answer.status_code}")
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > MAX_KEYS_BYTES:  # stop reading: the rest may be endless
                    raise KeysUnavailable(f"the {what} at {url} is over {MAX_KEYS_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise KeysUnavailable(f"the {what} at {url} cannot be fetched: {exc!r}") from None
    try:
        document = bounded_json.loads(bytes(body))
    except ValueError:
        raise KeysUnavailable(f"the {what} at {url} is not JSON") from None
    if not isinstance(document, dict):
        raise KeysUnavailable(f"the {what} at {url} is not a JSON object")
    return document
