"""Trading the provider's token for the user at a token endpoint, for another audience.

RFC 8693 §2.1 (``style: rfc8693``: Keycloak, Okta, any token-exchange server), or Entra ID's
on-behalf-of flow (``style: entraOnBehalfOf``: the jwt-bearer grant of RFC 7523 with
``requested_token_use=on_behalf_of``). The provider's own login client authenticates unless the
host names another client and token endpoint.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..config.upstream import TokenExchangeConfig, UpstreamConfig
from ..providers.base import LoginDenied, ProviderError, ProviderTokens
from ..providers.upstream_http import basic_auth, error_code, json_object, send
from .cache import CredentialUnavailable

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a URN)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)


def exchange_form(
    upstream: UpstreamConfig, exchange: TokenExchangeConfig, token: str
) -> dict[str, str]:
    scope = " ".join(upstream.scopes)
    if exchange.style == "entraOnBehalfOf":
        form = {
            "grant_type": JWT_BEARER,
            "assertion": token,
            "requested_token_use": "on_behalf_of",
        }
    else:
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
        }
        if exchange.audience:
            form["audience"] = exchange.audience
        if exchange.resource:
            form["resource"] = exchange.resource
    if scope:
        form["scope"] = scope
    return form


async def exchange_token(
    http: httpx.AsyncClient, provider: ProviderTokens, upstream: UpstreamConfig, token: str
) -> dict[str, Any]:
    """The token endpoint's answer (``access_token``, ``expires_in``), or
    ``CredentialUnavailable`` naming why (never the tokens)."""
    exchange = upstream.token_exchange
    if exchange is None:
        raise CredentialUnavailable("tokenExchange is not configured")
    form = exchange_form(upstream, exchange, token)
    try:
        if exchange.token_endpoint is None:
            return await provider.token_endpoint_call(form)
        return await _own_client(http, exchange.token_endpoint, exchange, form)
    except (ProviderError, LoginDenied) as exc:
        raise CredentialUnavailable(f"the token exchange failed: {exc}") from None


async def _own_client(
    http: httpx.AsyncClient, endpoint: str, exchange: TokenExchangeConfig, form: dict[str, str]
) -> dict[str, Any]:
    secret = exchange.client_secret.get_secret_value() if exchange.client_secret else ""
    headers = {"Accept": "application/json"}
    if exchange.client_id:
        headers["Authorization"] = basic_auth(exchange.client_id, secret)
    response = await send(http, "POST", endpoint, data=form, headers=headers)
    if response.status_code != 200:
        try:
            code = error_code(json_object(response).get("error"))
        except ProviderError:
            code = None
        raise ProviderError(f"answered {response.status_code} {code or '(no error code)'}")
    return json_object(response)
