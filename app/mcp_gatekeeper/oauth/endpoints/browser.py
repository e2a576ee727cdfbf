"""Binding a login to the browser that started it.

The ``state`` sent to the identity provider could be replayed from another browser (login CSRF,
session fixation); a random cookie set at /authorize and checked at /callback and /consent ties
the flow to one browser. Each login gets its own cookie name, so two logins in two tabs do not
clobber each other. On https the cookie is ``__Host-`` prefixed and ``Secure``; on http loopback
the prefix and ``Secure`` are dropped, since browsers discard ``Secure`` cookies over http.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from fastapi import Request, Response

from ...paths import CALLBACK_PATH
from ...providers import ProviderError
from ...responses import see_other
from ...services import Services
from ..hashing import secret_key
from ..records import AuthorizationRequest, BrowserBinding, LoginTransaction


def bind_browser(response: Response, issuer: str, max_age: int) -> BrowserBinding:
    secure = issuer.startswith("https://")
    name = ("__Host-" if secure else "") + "mcpgk-login-" + secrets.token_hex(8)
    value = secrets.token_urlsafe(32)
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )
    return BrowserBinding(cookie=name, value_hash=secret_key(value), secure=secure)


def browser_matches(request: Request, binding: BrowserBinding) -> bool:
    value = request.cookies.get(binding.cookie)
    return value is not None and hmac.compare_digest(secret_key(value), binding.value_hash)


def forget_browser(response: Response, binding: BrowserBinding) -> None:
    response.delete_cookie(
        binding.cookie, path="/", secure=binding.secure, httponly=True, samesite="lax"
    )


async def start_login(
    services: Services,
    authorization: AuthorizationRequest,
    unreachable: Callable[[ProviderError], Exception],
) -> Response:
    """To the identity provider, with this browser bound to the login (``/callback`` takes it
    from there); ``unreachable`` says how a provider that cannot be reached is reported."""
    issuer = authorization.issuer
    state = secrets.token_urlsafe(32)
    try:
        login = await services.provider.begin(callback_url=issuer + CALLBACK_PATH, state=state)
    except ProviderError as exc:
        raise unreachable(exc) from None
    response = see_other(login.url)
    timeout = services.config.tokens.login_timeout.total_seconds()
    transaction = LoginTransaction(
        request=authorization,
        browser=bind_browser(response, issuer, int(timeout)),
        provider_secrets=dict(login.secrets),
        started_at=services.clock(),
    )
    await services.records.logins.put(state, transaction, timeout)
    return response
