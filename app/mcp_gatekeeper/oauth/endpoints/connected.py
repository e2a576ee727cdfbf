"""``/connected-accounts``: a user lists and disconnects their accounts at upstream APIs.

Called with one of the user's own access tokens (``Authorization: Bearer``, any host's): GET
lists the accounts, POST disconnects them (form field ``host``: that host's only). The route
reads no cookie, so no other site can make a browser call it (no CSRF), and a DPoP-bound token
is refused (its proof would be for another URL). Disconnecting forgets the sealed tokens; the
next request to that host is refused until the user signs in again and reconnects.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ...edge import issuer_of, read_page_form
from ...paths import CONNECTED_ACCOUNTS_PATH
from ...responses import NO_STORE
from ...services import Services, ServicesDep
from ...tokens import AccessClaims
from ...tokens.verify import InvalidToken, TokenVerifier
from .. import connected_accounts
from ..errors import InvalidAccessToken

router = APIRouter()
MAX_FORM_BYTES = 4096


class ConnectedAccountView(BaseModel):
    host: str
    api: str
    connected_at: float


class ConnectedAccounts(BaseModel):
    accounts: list[ConnectedAccountView]


class Disconnected(BaseModel):
    disconnected: int


def _user(request: Request, services: Services) -> AccessClaims:
    issuer_of(request, services.hosts)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise InvalidAccessToken("send one of your access tokens as Authorization: Bearer")
    verifier: TokenVerifier[None] = TokenVerifier(
        services.keys,
        lambda _claims: None,
        clock_skew=services.config.tokens.clock_skew,
        cache_size=0,
        revocations=services.revocations,
        clock=services.clock,
    )
    try:
        claims = verifier.verify_for_any_host(token.strip(), services.hosts.hosts)
    except InvalidToken as exc:
        raise InvalidAccessToken(f"not a live access token issued here ({exc.reason})") from None
    if claims.jkt is not None:
        raise InvalidAccessToken("a DPoP-bound token cannot be used here; use an unbound one")
    return claims


def _api(services: Services, host: str) -> str:
    for configured in services.hosts.hosts:
        if configured.host == host and configured.config.upstream is not None:
            return configured.config.upstream.name
    return host


@router.get(CONNECTED_ACCOUNTS_PATH)
async def list_accounts(request: Request, services: ServicesDep) -> JSONResponse:
    claims = _user(request, services)
    accounts = await connected_accounts.accounts_of(services, claims.identity.subject)
    answer = ConnectedAccounts(
        accounts=[
            ConnectedAccountView(
                host=account.host,
                api=_api(services, account.host),
                connected_at=account.connected_at,
            )
            for account in accounts
        ]
    )
    return JSONResponse(answer.model_dump(), headers=NO_STORE)


@router.post(CONNECTED_ACCOUNTS_PATH)
async def disconnect(request: Request, services: ServicesDep) -> JSONResponse:
    claims = _user(request, services)
    host = dict(await read_page_form(request, MAX_FORM_BYTES)).get("host") or None
    cache = getattr(request.app.state, "upstream_credentials", None)
    count = await connected_accounts.disconnect_subject(
        services,
        claims.identity.subject,
        cache.forget_subject if cache is not None else lambda _subject: None,
        host,
    )
    return JSONResponse(Disconnected(disconnected=count).model_dump(), headers=NO_STORE)
