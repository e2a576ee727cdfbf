"""Redirect URI rules: what may be registered, and when a requested URI matches.

MCP authorization spec (§Communication Security, §Open Redirection) and OAuth 2.1 §7.12:
https or loopback only; no fragments, userinfo, or script/data schemes; exact match, except
that the port of a loopback IP literal may vary at request time (RFC 8252 §7.3). ``localhost``
gets no port leniency: it is a name that can resolve elsewhere.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

LOOPBACK_IPS = frozenset({"127.0.0.1", "[::1]"})


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return None
    return parts


def _bracketed_host(parts: SplitResult) -> str:
    host = parts.hostname or ""
    return f"[{host}]" if ":" in host else host


def registration_problem(uri: str, allowed: list[str]) -> str | None:
    """Why ``uri`` may not be registered, or ``None`` if it may."""
    if not isinstance(uri, str) or not uri or len(uri) > 2000:
        return "must be a URL of at most 2000 characters"
    if any(c.isspace() or ord(c) < 0x20 for c in uri):
        return "must not contain spaces or control characters"
    parts = _split(uri)
    if parts is None or not parts.scheme or not parts.netloc:
        return "must be an absolute URL"
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if "@" in parts.netloc:
        return "must not contain user information"
    host = _bracketed_host(parts)
    if parts.scheme == "http":
        if host not in LOOPBACK_IPS and host != "localhost":
            return "http is allowed only for loopback (127.0.0.1, [::1], localhost); use https"
    elif parts.scheme != "https":
        return "must use https (or http on loopback)"
    if allowed and not any(re.fullmatch(pattern, uri) for pattern in allowed):
        return "is not allowed by proxy.allowedRedirectURLs"
    return None


def matches(registered: str, requested: str) -> bool:
    """Exact string match, or the same loopback-IP URI with another port."""
    if registered == requested:
        return True
    a, b = _split(registered), _split(requested)
    if a is None or b is None or a.scheme != "http" or b.scheme != "http":
        return False
    if _bracketed_host(a) not in LOOPBACK_IPS or _bracketed_host(a) != _bracketed_host(b):
        return False
    same_rest = (a.path, a.query, a.fragment) == (b.path, b.query, b.fragment)
    return same_rest and "@" not in b.netloc and b.port is not None


def is_loopback(uri: str) -> bool:
    parts = _split(uri)
    return parts is not None and (
        _bracketed_host(parts) in LOOPBACK_IPS or parts.hostname == "localhost"
    )
