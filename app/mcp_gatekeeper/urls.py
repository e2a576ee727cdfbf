"""URL helpers that never break a URL the client registered."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def add_query(url: str, params: Mapping[str, str]) -> str:
    """Append parameters, keeping the URL's own query (RFC 6749 §3.1.2: it MUST be retained;
    OIDC Core §3.1.2.1 allows one on an identity provider's endpoints too) and fragment."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
