"""``/connected-accounts``: a user lists and disconnects their accounts at upstream APIs.

Called on an MCP host with one of the user's own access tokens for that host
(``Authorization: Bearer``): GET lists the user's account at that host's API, POST disconnects
it (form field ``host``, which must name this host: an empty or garbled form disconnects
nothing). A token for another host is refused: the MCP server it was sent to must not manage
the user's accounts elsewhere. The route reads no cookie, so no other site can make a browser
call it (no CSRF), and a DPoP-bound token is refused (its proof would be for another URL).
Disconnecting forgets the sealed tokens; the next request to that host is refused until the
user signs in again and reconnects.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ...edge import issuer_of, mcp_host_of, read_page_form
from ...errors import NotFound
from ...hosts import McpHost
from ...paths import CONNECTED_ACCOUNTS_PATH
from ...responses import NO_STORE
from ...services import Services, ServicesDep
from ...tokens import AccessClaims
from ...tokens.verify import InvalidToken, TokenVerifier
from ...upstream.connected import account_key
from .. import connected_accounts
from ..errors import InvalidAccessToken, InvalidRequest

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


def _user(request: Request, services: Services) -> tuple[McpHost, AccessClaims]:
    issuer_of(request, services.hosts)
    host = mcp_host_of(request, services.hosts)
    if host is None:
        raise NotFound("Connected accounts are managed at the MCP server's own host")
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
        # This host's audience only (``verify``): a token for another host is refused.
        claims = verifier.verify(token.strip(), host).claims
    except InvalidToken as exc:
        raise InvalidAccessToken(
            f"not a live access token issued here for {host.host} ({exc.reason})"
        ) from None
    if claims.jkt is not None:
        raise InvalidAccessToken("a DPoP-bound token cannot be used here; use an unbound one")
    return host, claims


def _api(host: McpHost) -> str:
    upstream = host.config.upstream
    return upstream.name if upstream is not None else host.host


@router.get(CONNECTED_ACCOUNTS_PATH)
async def list_accounts(request: Request, services: ServicesDep) -> JSONResponse:
    host, claims = _user(request, services)
    key = account_key(host.host, claims.identity.subject)
    account = await services.records.connected_accounts.get(key)
    views = (
        []
        if account is None
        else [
            ConnectedAccountView(host=host.host, api=_api(host), connected_at=account.connected_at)
        ]
    )
    answer = ConnectedAccounts(accounts=views)
    return JSONResponse(answer.model_dump(), headers=NO_STORE)


@router.post(CONNECTED_ACCOUNTS_PATH)
async def disconnect(request: Request, services: ServicesDep) -> JSONResponse:
    host, claims = _user(request, services)
    named = dict(await read_page_form(request, MAX_FORM_BYTES)).get("host")
    if named != host.host:
        # Never "all": a form that names no host, or another, disconnects nothing.
        raise InvalidRequest(f"name the account to disconnect: form field host={host.host}")
    cache = getattr(request.app.state, "upstream_credentials", None)
    count = await connected_accounts.disconnect_subject(
        services,
        claims.identity.subject,
        cache.forget_subject if cache is not None else lambda _subject: None,
        host.host,
    )
    return JSONResponse(Disconnected(disconnected=count).model_dump(), headers=NO_STORE)
