"""Host names and loopback: the helpers configuration, hosts and the OAuth rules share.

Two loopback questions are asked, and they have different answers on purpose:

``is_loopback_hostname``
    Is this host name or address one of this machine's own? Any address of ``127.0.0.0/8`` or
    ``::1`` (``127.0.0.2`` included), and ``localhost``. It decides ``http`` versus ``https`` for
    a configured host, which default port a host leaves out, and whether a connection comes from
    the pod itself (the admin API).

``is_loopback_redirect_host``
    Is this the host of a loopback redirect URI as RFC 8252 §7.3 and the MCP clients write it?
    Exactly ``127.0.0.1``, ``[::1]`` or ``localhost``: ``127.0.0.2`` is not, since a native app
    listens on the address the RFC names and nothing else may be registered over plain http (or
    get a port that varies at request time). ``oauth/clients/redirect_uris.py`` applies it to a
    whole URI (``is_loopback_redirect_uri``).
"""

from __future__ import annotations

import ipaddress
import re

#: The loopback hosts as written (RFC 8252 §7.3, and ``localhost`` per its §8.3): all a redirect
#: URI may name; ``is_loopback_hostname`` also takes any other loopback address.
LOOPBACK_HOSTNAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
_HOST_RE = re.compile(
    r"^(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)


def split_host(host: str) -> tuple[str, int | None]:
    """Split ``name[:port]`` into its hostname and optional port."""
    match = _HOST_RE.match(host)
    if match is None:
        raise ValueError(f"{host!r} is not a host name with an optional port")
    port = match.group("port")
    name = host[: match.start("port") - 1] if port else host
    return name, int(port) if port else None


def is_loopback_hostname(hostname: str) -> bool:
    """Whether ``hostname`` (no port; IPv6 with or without brackets) is this machine's own."""
    if hostname in LOOPBACK_HOSTNAMES:
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_redirect_host(host: str) -> bool:
    """Whether ``host`` (IPv6 bracketed) is a loopback host a redirect URI may name."""
    return host in LOOPBACK_HOSTNAMES
