"""Client authentication at /token and /revoke (RFC 6749 §2.3, OAuth 2.1 §2.4).

A client authenticates the way it registered: ``none`` (public: client_id only), HTTP Basic, or
``client_secret`` in the form. Using another way, or two at once, fails with ``invalid_client``.
Machine clients (``clients/machines.py``) authenticate with HTTP Basic or a signed JWT
(``private_key_jwt``, RFC 7523 §2.2, in ``client_assertions.py``), and each may use only the
grants made for machines (``check_grant``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import unquote

from ..services import Services
from .client_assertions import CLIENT_ASSERTION_PARAMS, by_assertion
from .clients.machines import SECRET_BASIC, MachineClient
from .clients.metadata_document_rules import UnusableMetadataDocument
from .clients.models import RegisteredClient
from .errors import InvalidClient, OAuthError, UnauthorizedClient
from .token_requests import TOKEN_EXCHANGE


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


def presents_client(form: Mapping[str, str], authorization: str | None) -> bool:
    """Whether the request carries any client identification or credentials at all."""
    return authorization is not None or any(
        name in form for name in ("client_id", "client_secret", "client_assertion")
    )


async def authenticate_client(
    services: Services,
    form: Mapping[str, str],
    authorization: str | None,
    *,
    issuer: str | None = None,
) -> RegisteredClient:
    """The client a back-channel request comes from; ``authorization`` is the request's
    ``Authorization`` header, ``issuer`` the issuer the request came to (a client assertion's
    audience: without it, assertions are refused)."""
    if any(name in form for name in CLIENT_ASSERTION_PARAMS):
        return await by_assertion(services, form, authorization, issuer)
    basic = _basic(authorization)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if basic is not None and form_secret is not None:
        raise InvalidClient("Use one client authentication method, not two")
    client_id = basic[0] if basic else form_id
    if not client_id:
        raise InvalidClient("client_id is missing")
    if basic is not None and form_id is not None and form_id != basic[0]:
        raise InvalidClient("client_id in the form differs from the Basic credentials")
    machine = await services.machines.get(client_id)
    if machine is not None:
        return _machine_by_secret(machine, basic)
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


def _machine_by_secret(machine: MachineClient, basic: tuple[str, str] | None) -> RegisteredClient:
    method = machine.client.auth_method
    if method != SECRET_BASIC or basic is None:
        raise InvalidClient(f"This client authenticates with {method}")
    if not machine.secret_matches(basic[1]):
        raise InvalidClient("Client authentication failed")
    return machine.client


def check_grant(services: Services, client: RegisteredClient, grant_type: str) -> None:
    """Machine clients get machine grants only, and only they get client credentials: a
    registered client holds no binding to hosts and scopes that an operator approved."""
    if client.machine is not None:
        allowed = {"client_credentials"}
        if client.client_id in services.config.grants.token_exchange.actors:
            allowed.add(TOKEN_EXCHANGE)
        if grant_type not in allowed:
            raise UnauthorizedClient(
                f"This machine client may use {' and '.join(sorted(allowed))} only"
            )
    elif grant_type == "client_credentials":
        raise UnauthorizedClient(
            "client_credentials is for machine clients an operator made "
            "(grants.clientCredentials.clients or mcp-gatekeeper admin clients create)"
        )
