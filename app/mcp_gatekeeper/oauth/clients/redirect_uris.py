"""Redirect URI rules: what may be registered, and when a requested URI matches.

MCP authorization spec (§Communication Security, §Open Redirection) and OAuth 2.1 §7.12:
https or loopback only; no fragments, userinfo, or script/data schemes; exact match, except
that the port of a loopback redirect URI may vary at request time (RFC 8252 §7.3). That
includes ``localhost``, which RFC 8252 §8.3 discourages but the MCP clients people use (Claude
Code among them) register and then call on an ephemeral port; browsers resolve it to loopback.

A URI is accepted only in the form every URL parser reads the same way (RFC 3986 characters,
a plain ``host[:port]`` authority): ``\\``, whitespace, control characters or percent-escapes
in the host make browsers, ``urllib`` and regular expressions disagree on where the URI
goes, so an ``allowedRedirectURLs`` pattern or the consent page could be shown one host while
the browser is sent to another.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from ...net import is_loopback_redirect_host

MAX_LENGTH = 2000
# RFC 3986 §2: printable ASCII without spaces, quotes, backslashes, braces, pipes or carets;
# a percent sign only as the start of an escape.
_URI = re.compile(r"(?:[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+")
# A DNS name or an IPv6 literal, then an optional decimal port: nothing a parser could read as
# userinfo, a path, or an escaped character of the host.
_AUTHORITY = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _split(uri: str) -> SplitResult | None:
    """The parts of a well-formed redirect URI (fragments never are), else ``None``."""
    if not _URI.fullmatch(uri) or "#" in uri:
        return None
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return None
    if not _AUTHORITY.fullmatch(parts.netloc) or _has_dot_segment(parts.path):
        return None
    return parts


def _has_dot_segment(path: str) -> bool:
    """``/cb/../x``: browsers resolve it to ``/x``, past a pattern that wanted ``/cb/``."""
    return any(segment.lower().replace("%2e", ".") in (".", "..") for segment in path.split("/"))


def _bracketed_host(parts: SplitResult) -> str:
    host = parts.hostname or ""
    return f"[{host}]" if ":" in host else host


def registration_problem(uri: str, allowed: list[str]) -> str | None:
    """Why ``uri`` may not be registered, or ``None`` if it may."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_LENGTH:
        return f"must be a URL of at most {MAX_LENGTH} characters"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        return "must not contain spaces or control characters"
    if "\\" in uri:
        return "must not contain a backslash (browsers read it as /)"
    if not _URI.fullmatch(uri):
        return "must contain only URL characters (RFC 3986: ASCII, no quotes or braces)"
    if "#" in uri:
        return "must not contain a fragment"
    try:
        parts = urlsplit(uri)
        _ = parts.port
    except ValueError:
        return "must be an absolute URL with a valid port"
    if not parts.scheme or not parts.netloc:
        return "must be an absolute URL"
    if "@" in parts.netloc:
        return "must not contain user information"
    if not _AUTHORITY.fullmatch(parts.netloc) or parts.port == 0:
        return "must have a plain host[:port] (no percent-escapes or other characters in it)"
    if _has_dot_segment(parts.path):
        return "must not contain . or .. path segments (browsers resolve them away)"
    host = _bracketed_host(parts)
    if parts.scheme == "http":
        if not is_loopback_redirect_host(host):
            return "http is allowed only for loopback (127.0.0.1, [::1], localhost); use https"
    elif parts.scheme != "https":
        return "must use https (or http on loopback)"
    if not is_allowed(uri, allowed):
        return "is not allowed by proxy.allowedRedirectURLs"
    return None


def is_allowed(uri: str, allowed: list[str]) -> bool:
    """``proxy.allowedRedirectURLs`` (whole-string patterns); checked again at /authorize for
    the URI asked for, since a loopback port may differ from the registered one."""
    return not allowed or any(re.fullmatch(pattern, uri) for pattern in allowed)


def is_well_formed(uri: str) -> bool:
    """Whether every URL parser reads ``uri`` alike; checked again at /authorize, since a
    client registered before these rules may hold a URI they now refuse."""
    return _split(uri) is not None


def matches(registered: str, requested: str) -> bool:
    """Exact string match, or the same loopback URI with another port (RFC 8252 §7.3)."""
    a, b = _split(registered), _split(requested)
    if a is None or b is None:
        return False
    if registered == requested:
        return True
    if a.scheme != "http" or b.scheme != "http":
        return False
    host = _bracketed_host(a)
    if not is_loopback_redirect_host(host) or host != _bracketed_host(b):
        return False
    return (a.path, a.query) == (b.path, b.query) and b.port not in (None, 0)


def is_loopback_redirect_uri(uri: str) -> bool:
    """A well-formed URI on exactly 127.0.0.1, [::1] or localhost (``net.py`` says why not
    127.0.0.2, which ``is_loopback_hostname`` does count)."""
    parts = _split(uri)
    return parts is not None and is_loopback_redirect_host(_bracketed_host(parts))
