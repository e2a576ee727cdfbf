"""The API's answer to a connected-account authorization, at ``/callback`` like the login's.

``/callback`` (``callback.py``) hands over a ``state`` that names a ``ConnectTransaction``
(``oauth/connected_accounts.py``) instead of a login: the same browser must bring it back, the
state is single use, and only once the account is connected does the MCP client get its code.
"""

from __future__ import annotations

from fastapi import Request, Response

from ...responses import see_other
from ...services import Services
from .. import connected_accounts
from ..codes import issue_code
from ..errors import BrowserError
from .browser import browser_matches, forget_browser


async def finish_connect(request: Request, services: Services, issuer: str) -> Response | None:
    """The browser's next step if this callback answers a connection; None if it does not."""
    state = request.query_params.get("state")
    transaction = await services.records.connects.get(state) if state else None
    if state is None or transaction is None:
        return None
    if transaction.request.issuer != issuer or not browser_matches(request, transaction.browser):
        raise BrowserError(
            "This account connection was started in another browser (or its cookie was "
            "blocked). Start again from your MCP client in this browser."
        )
    # Single use, and taken only now (a stranger holding the state must not be able to burn
    # it): one atomic take, so two callbacks racing with one state connect once, and a login
    # ``admin users revoke`` dropped meanwhile (``admin/api.py``) does not finish.
    if await services.records.connects.take(state) is None:
        raise BrowserError(
            "This account connection was already completed or cancelled. Start again from "
            "your MCP client."
        )
    await connected_accounts.finish(services, transaction, dict(request.query_params))
    cache = getattr(request.app.state, "upstream_credentials", None)
    if cache is not None:
        # A failure remembered from before the connection (``upstream/cache.py``) ends now.
        cache.forget_subject(transaction.user.subject)
    response = see_other(await issue_code(services, transaction.request, transaction.user))
    forget_browser(response, transaction.browser)
    return response
