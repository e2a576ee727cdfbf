"""The identity headers of a 200 answer, built once per verified token.

Every header is always present (the actor's too, empty unless an agent acts for the user
through token exchange), so a gateway that only *overrides* headers it receives (Envoy, Envoy
Gateway, Istio) never lets a client-sent copy through. Envoy does not show us the client's
headers at all, so its underscore look-alikes (``X_Auth_Request_User``, which WSGI/CGI servers
fold onto the real name) are removed through ``x-envoy-auth-headers-to-remove``; the other
gateways ignore that header. Values are bounded so the whole
answer stays well inside nginx's 4 KiB ``proxy_buffer_size``; lists are cut at an entry boundary,
which can only take permissions away, never add them.
"""

from __future__ import annotations

import re

from ..config import IdentityHeaders
from ..tokens import AccessClaims

RawHeaders = tuple[tuple[bytes, bytes], ...]

MAX_USER_BYTES = 256
MAX_EMAIL_BYTES = 256
MAX_SCOPES_BYTES = 768
MAX_GROUPS_BYTES = 1536
MAX_ACTOR_BYTES = 256


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _clean(value: str) -> bytes:
    """UTF-8 without control characters: a value can never end a header line early."""
    return _CONTROL.sub("", value).encode()


def _bounded(value: str, limit: int) -> bytes:
    if value.isprintable():  # the usual value: no control character to take out
        return value.encode()[:limit]
    return _clean(value)[:limit]


def _bounded_list(items: tuple[str, ...], separator: str, limit: int) -> bytes:
    if not items:
        return b""
    joined = separator.join(items)
    # The usual list: printable, no entry empty or holding the separator, all within the
    # limit; it reads the same as the entry by entry way below.
    if joined.isprintable() and "" not in items and joined.count(separator) == len(items) - 1:
        encoded = joined.encode()
        if len(encoded) <= limit:
            return encoded
    out = bytearray()
    sep = separator.encode()
    for item in items:
        entry = _clean(item)
        # An entry holding the separator would read as two entries upstream.
        if not entry or sep in entry:
            continue
        needed = len(entry) + (len(sep) if out else 0)
        if len(out) + needed > limit:
            break
        if out:
            out += sep
        out += entry
    return bytes(out)


ENVOY_HEADERS_TO_REMOVE = b"x-envoy-auth-headers-to-remove"


class IdentityRenderer:
    def __init__(self, names: IdentityHeaders) -> None:
        self._user = names.user.lower().encode()
        self._email = names.email.lower().encode()
        self._groups = names.groups.lower().encode()
        self._scopes = names.scopes.lower().encode()
        self._actor = names.actor.lower().encode()
        aliases = (name.replace(b"-", b"_") for name in self.names)
        self._remove_aliases = (ENVOY_HEADERS_TO_REMOVE, b",".join(aliases))

    @property
    def names(self) -> tuple[bytes, ...]:
        return (self._user, self._email, self._groups, self._scopes, self._actor)

    def __call__(self, claims: AccessClaims) -> RawHeaders:
        identity = claims.identity
        return (
            (self._user, _bounded(identity.subject, MAX_USER_BYTES)),
            (self._email, _bounded(identity.email, MAX_EMAIL_BYTES)),
            (self._groups, _bounded_list(identity.groups, ",", MAX_GROUPS_BYTES)),
            (self._scopes, _bounded_list(claims.scopes, " ", MAX_SCOPES_BYTES)),
            # The agent acting for the user (token exchange); "" when the user's own client.
            (self._actor, _bounded(identity.actor, MAX_ACTOR_BYTES)),
            self._remove_aliases,
        )

    def anonymous(self) -> RawHeaders:
        """For a CORS preflight let through without credentials: all present, all empty."""
        return (*((name, b"") for name in self.names), self._remove_aliases)
