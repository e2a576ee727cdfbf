"""Client authentication at /token and /revoke (RFC 6749 §2.3, OAuth 2.1 §2.4).

A client authenticates the way it registered: ``none`` (public: client_id only), HTTP Basic, or
``client_secret`` in the form. Using another way, or two at once, fails with ``invalid_client``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import unquote

from ..services import Services
from .clients.metadata_document_rules import UnusableMetadataDocument
from .clients.models import RegisteredClient
from .errors import InvalidClient, OAuthError


def _basic(header: str | None) -> tuple[str, str] | None:
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("Only HTTP Basic client authentication is supported in the header")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("Malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("Malformed Basic credentials")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def authenticate_client(
    services: Services, form: Mapping[str, str], authorization: str | None
) -> RegisteredClient:
    """The client a back-channel request comes from; ``authorization`` is the request's
    ``Authorization`` header."""
    basic = _basic(authorization)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if basic is not None and form_secret is not None:
        raise InvalidClient("Use one client authentication method, not two")
    client_id = basic[0] if basic else form_id
    if not client_id:
        raise InvalidClient("client_id is missing")
    if basic is not None and form_id is not None and form_id != basic[0]:
        raise InvalidClient("client_id in the form differs from the Basic credentials")
    try:
        client = await services.clients.get(client_id)
    except (UnusableMetadataDocument, OAuthError):
        client = None
    if client is None:
        raise InvalidClient("Unknown client; register again")
    method = client.auth_method
    if method == "none":
        if basic is not None or form_secret is not None:
            raise InvalidClient("This client is public and has no secret")
        return client
    presented = basic[1] if method == "client_secret_basic" and basic else None
    if method == "client_secret_post" and basic is None:
        presented = form_secret
    if presented is None:
        raise InvalidClient(f"This client authenticates with {method}")
    if not services.clients.secret_matches(client, presented):
        raise InvalidClient("Client authentication failed")
    return client
