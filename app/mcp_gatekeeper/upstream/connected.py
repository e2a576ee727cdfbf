"""Connected accounts (``upstream.source: connected``): each user's own tokens at the API.

The user connects once (``oauth/connected_accounts.py`` runs the authorization); the account
is kept in the store, its tokens sealed, so every replica can use it. ``access_token`` hands out
the stored access token while it has more than the host's ``refreshBefore`` to live, and else
refreshes it with the refresh token; a rotated refresh token is written back by
compare-and-swap (a stale write is dropped: the token it brought is still good to use). An API
that refuses the refresh token has ended the connection: the account is forgotten and the user
connects again at their next sign-in.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ..config.upstream import ConnectedAccountConfig, UpstreamConfig
from ..oauth.record_stores import RecordStore
from ..oauth.records import ConnectedAccount
from ..providers.base import ProviderError
from ..providers.upstream_http import (
    basic_auth,
    error_code,
    json_object,
    lifetime_of,
    send,
)
from .cache import CredentialUnavailable

log = logging.getLogger(__name__)
#: The longest ``expires_in`` taken as stated (a year); a longer one counts as none.


class TokenRefused(ProviderError):
    """The token endpoint refused the grant (400/401: invalid_grant and kin)."""


def account_key(host: str, subject: str) -> str:
    """One user's account at one host's API: a user may connect two hosts to two accounts."""
    return f"{host}\n{subject}"


async def token_call(
    http: httpx.AsyncClient, client: ConnectedAccountConfig, form: dict[str, str]
) -> dict[str, Any]:
    """The API's token endpoint (client_secret_basic, or client_id alone for a public client);
    ``ProviderError`` names the host and the error code, never a token."""
    headers = {"Accept": "application/json"}
    if client.client_secret is not None:
        headers["Authorization"] = basic_auth(
            client.client_id, client.client_secret.get_secret_value()
        )
    else:
        form = {**form, "client_id": client.client_id}
    response = await send(http, "POST", client.token_url, data=form, headers=headers)
    if response.status_code != 200:
        try:
            code = error_code(json_object(response).get("error"))
        except ProviderError:
            code = None
        refused = TokenRefused if response.status_code in (400, 401) else ProviderError
        raise refused(f"answered {response.status_code} {code or '(no error code)'}")
    answer = json_object(response)
    if "error" in answer:
        # GitHub answers a refused grant with 200 and an error object.
        raise TokenRefused(f"answered {error_code(answer['error']) or '(no error code)'}")
    if not isinstance(answer.get("access_token"), str):
        raise ProviderError("answered no access_token")
    return answer


def account_from(
    answer: dict[str, Any], previous: ConnectedAccount, now: float
) -> ConnectedAccount:
    """``previous`` with the tokens of a token endpoint answer (a refresh token that was not
    rotated is kept)."""
    lifetime = lifetime_of(answer.get("expires_in"))
    refresh = answer.get("refresh_token")
    return previous.model_copy(
        update={
            "access_token": answer["access_token"],
            "refresh_token": refresh if isinstance(refresh, str) else previous.refresh_token,
            "expires_at": None if lifetime is None else now + lifetime,
            "updated_at": now,
        }
    )


async def access_token(
    accounts: RecordStore[ConnectedAccount],
    http: httpx.AsyncClient,
    upstream: UpstreamConfig,
    host: str,
    subject: str,
    now: float,
    ttl: float,
) -> tuple[str, float | None]:
    """The user's access token at ``host``'s API and when it expires, or
    ``CredentialUnavailable``."""
    client = upstream.connected
    if client is None:
        raise CredentialUnavailable("connected is not configured")
    key = account_key(host, subject)
    stored = await accounts.get_stored(key)
    if stored is None:
        raise CredentialUnavailable(f"no {upstream.name} account is connected")
    account, raw = stored
    margin = upstream.refresh_before.total_seconds()
    if account.expires_at is None or account.expires_at - margin > now:
        return account.access_token, account.expires_at
    if account.refresh_token is None:
        raise CredentialUnavailable(f"the {upstream.name} token expired and cannot be refreshed")
    # No scope: the grant's own (RFC 6749 §6), which is what the user connected with.
    form = {"grant_type": "refresh_token", "refresh_token": account.refresh_token}
    try:
        answer = await token_call(http, client, form)
    except ProviderError as exc:
        if isinstance(exc, TokenRefused):
            # The user (or the API) ended the connection: connect again at the next sign-in.
            await accounts.forget(key)
        raise CredentialUnavailable(f"the {upstream.name} refresh failed: {exc}") from None
    refreshed = account_from(answer, account, now)
    if not await accounts.replace_if(key, raw, accounts.dump(refreshed), ttl):
        log.info("a refreshed connected account lost to a newer write", extra={"sub": subject})
    return refreshed.access_token, refreshed.expires_at
