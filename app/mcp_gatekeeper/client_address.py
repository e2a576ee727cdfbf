"""The address of the client behind the gateway, for per-client limits (never for access).

No setting names a trusted client-address header, so this relies on what every gateway in
``examples/`` does by default: it *appends* the address it received the request from to
``X-Forwarded-For`` (nginx ``$proxy_add_x_forwarded_for``, or sets it to ``$remote_addr``;
Envoy, Traefik and Caddy append). The last entry is therefore the gateway's own observation;
entries before it are whatever the client sent. Without the header (no gateway) the peer
address counts. A last entry that is no IP address cannot come from a gateway: the peer counts.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request


def client_address(request: Request) -> str:
    """The client's IP address as the gateway in front of us saw it (see the module doc)."""
    peer = request.client.host if request.client else ""
    forwarded = request.headers.getlist("x-forwarded-for")
    if not forwarded:
        return peer
    last = forwarded[-1].rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer
