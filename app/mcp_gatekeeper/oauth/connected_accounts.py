"""Connecting a user's account at a host's upstream API, once, inside their login.

After the approval (or a remembered one), a host with ``upstream.source: connected`` whose API
has no account of this user on record sends the browser through the API's OAuth authorization
(``begin``): authorization code with PKCE S256, ``state`` single use and bound to the login's
browser cookie (the same binding as the login's own, ``endpoints/browser.py``), redirect URI
``<issuer>/callback``, where ``endpoints/callback.py`` hands a ``state`` of this kind to
``finish``. Only then is the MCP client's code issued: a client never gets a token that cannot
reach the API. The account's tokens are kept sealed (``upstream/connected.py`` uses them), and
are forgotten by ``disconnect`` (the user's own page, ``admin users revoke``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from ..ops.audit import audit
from ..paths import CALLBACK_PATH
from ..pkce import s256
from ..providers import ProviderError
from ..services import Services
from ..upstream.connected import account_from, account_key, token_call
from ..urls import add_query
from .errors import BrowserError
from .records import (
    AuthorizationRequest,
    BrowserBinding,
    ConnectedAccount,
    ConnectTransaction,
    User,
)


async def begin(
    services: Services, request: AuthorizationRequest, user: User, browser: BrowserBinding
) -> str | None:
    """Where the browser goes to connect the user's account, or None: nothing to connect."""
    host = services.host_for_resource(request.resource)
    upstream = host.config.upstream if host is not None else None
    if host is None or upstream is None or upstream.connected is None:
        return None
    if await services.records.connected_accounts.get(account_key(host.host, user.subject)):
        return None
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    transaction = ConnectTransaction(
        request=request,
        user=user,
        browser=browser,
        host=host.host,
        verifier=verifier,
        started_at=services.clock(),
    )
    ttl = services.config.tokens.login_timeout.total_seconds()
    await services.records.connects.put(state, transaction, ttl)
    params = {
        "response_type": "code",
        "client_id": upstream.connected.client_id,
        "redirect_uri": request.issuer + CALLBACK_PATH,
        "state": state,
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    if upstream.scopes:
        params["scope"] = " ".join(upstream.scopes)
    return add_query(upstream.connected.authorize_url, params)


async def finish(
    services: Services, transaction: ConnectTransaction, params: dict[str, str]
) -> None:
    """Trade the API's code for the user's tokens and keep them; a ``BrowserError`` page says
    why not (the login ends there: the user starts again from their MCP client)."""
    host = next((h for h in services.hosts.hosts if h.host == transaction.host), None)
    upstream = host.config.upstream if host is not None else None
    if upstream is None or upstream.connected is None:
        raise BrowserError("This MCP server no longer connects accounts.")
    user, api = transaction.user, upstream.name
    fields = {"sub": user.subject, "host": transaction.host}
    if "error" in params or "code" not in params:
        audit("account_connect_failed", reason="the user or the API declined", **fields)
        raise BrowserError(
            f"{transaction.host} acts with your {api} account, and connecting it did not "
            "complete. Start again from your MCP client to retry."
        )
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": transaction.request.issuer + CALLBACK_PATH,
        "code_verifier": transaction.verifier,
    }
    try:
        answer = await token_call(services.http, upstream.connected, form)
    except ProviderError as exc:
        audit("account_connect_failed", reason=f"token endpoint {exc}", **fields)
        raise BrowserError(f"{api} did not complete the connection: {exc}") from None
    now = services.clock()
    empty = ConnectedAccount(
        subject=user.subject,
        email=user.email,
        host=transaction.host,
        access_token="",
        connected_at=now,
        updated_at=now,
    )
    account = account_from(answer, empty, now)
    ttl = services.config.tokens.max_session_age.total_seconds()
    await services.records.connected_accounts.put(
        account_key(transaction.host, user.subject), account, ttl
    )
    audit("account_connected", api=api, **fields)


async def disconnect_subject(
    services: Services, subject: str, forget_cached: Callable[[str], None], host: str
) -> int:
    """Forget the user's connected account at ``host``; how many (0 or 1). ``forget_cached``
    drops this replica's cached credentials of the user; another replica keeps a cached one at
    most ``CONNECTED_CACHE_SECONDS`` (``upstream/fetcher.py``)."""
    accounts = services.records.connected_accounts
    key = account_key(host, subject)
    if await accounts.get(key) is None:
        return 0
    await accounts.forget(key)
    audit("account_disconnected", sub=subject, host=host)
    forget_cached(subject)
    return 1


async def disconnect_everywhere(
    services: Services, user: str, forget_cached: Callable[[str], None]
) -> int:
    """``admin users revoke``: every connected account of ``user`` (subject or email)."""
    forgotten = 0
    accounts = services.records.connected_accounts
    for key, account, _raw in await accounts.scan():
        if user in (account.subject, account.email):
            await accounts.forget_stored(key)
            forget_cached(account.subject)
            forgotten += 1
    return forgotten
