"""The token-exchange grant (RFC 8693): an agent acting for a user, never with more than the user.

A confidential client listed in ``grants.tokenExchange.actors`` presents a user's access token
issued here (``subject_token``) and gets a token for the same MCP host, with the same or fewer
scopes, that ends no later than the user's, in the user's name, with ``act`` naming the agent
(RFC 8693 §4.1; an exchanged token exchanged again nests the earlier actors, up to
``maxDelegationDepth``). The subject token is checked as ``/authenticate`` checks it (our keys,
``exp``, the revocation list, issuer and audience of a configured host); the new token is
recorded under the user and under the subject token, so revoking either ends it too. An actor
re-exchanging its own delegated token keeps the chain as it is. Only the subject token's own
authorization server exchanges it, and a machine client acts only on the hosts it is bound to.

A DPoP-bound token (RFC 9449) proves nothing by being held: exchanging one (subject or actor
token) takes a DPoP proof signed with the key it is bound to, and the new token is bound to that
same key. A bound token is never turned into a Bearer one: where its host no longer takes DPoP
tokens, the exchange is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...ops.audit import audit
from ...services import Services, same_resource
from ...tokens import AccessClaims, InvalidToken, TokenVerifier
from ...tokens.claims import MAX_ACTOR_LENGTH
from ...tokens.origin import delegated_origin
from ..clients.models import RegisteredClient
from ..errors import InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient
from ..records import User
from ..token_requests import ACCESS_TOKEN_TYPE, TokenCall, TokenExchangeGrant
from .common import access_token, token_response

#: RFC 8693 has no registered value for the grant a token came from; this one names it.
GRANT_TYPE_CLAIM = "token-exchange"


async def token_exchange(
    services: Services, call: TokenCall, client: RegisteredClient, grant: TokenExchangeGrant
) -> dict[str, Any]:
    """RFC 8693 §2.2.1: a narrower token for the same user and host, acted on by ``client``."""
    settings = services.config.grants.token_exchange
    # A public client proves nothing about who it is, so it cannot be named as an actor.
    if client.auth_method == "none" or client.client_id not in settings.actors:
        raise UnauthorizedClient("this client may not act for users (grants.tokenExchange.actors)")
    _check_types(grant)
    verifier = _verifier(services)
    subject = _verified(services, verifier, grant.subject_token, "subject_token")
    actor = client.client_id
    if grant.actor_token is not None:
        acting = _verified(services, verifier, grant.actor_token, "actor_token")
        # Otherwise a listed actor could name anyone whose token it holds as the actor.
        if acting.client_id != client.client_id:
            raise InvalidGrant("actor_token was not issued to this client")
        actor = acting.identity.subject
        _check_possession(call, acting, "actor_token")
    _check_possession(call, subject, "subject_token")
    if subject.jkt is not None and _dpop_off(services, subject.audience):
        raise InvalidGrant(
            f"subject_token is DPoP-bound and {subject.audience} no longer takes DPoP tokens"
        )
    if len(actor) > MAX_ACTOR_LENGTH:
        # /authenticate would refuse the token as malformed: better said here.
        raise InvalidRequest(f"an actor's name is at most {MAX_ACTOR_LENGTH} characters")
    earlier = subject.identity.actors
    # An actor re-exchanging its own delegated token (to narrow it) keeps the chain: nesting
    # itself would say nothing more and use up the depth.
    chain = earlier if earlier[:1] == (actor,) else (actor, *earlier)
    if len(chain) > settings.max_delegation_depth:
        raise InvalidRequest(
            f"a delegation chain holds at most {settings.max_delegation_depth} actors"
        )
    for given in (grant.resource, grant.audience):
        # Host isolation: a token for one MCP server never becomes one for another.
        if given is not None and not same_resource(given, subject.audience):
            raise InvalidTarget(f"subject_token is for {subject.audience}, not {given}")
    _check_host(services, call, client, subject.audience)
    scopes = _narrowed(subject.scopes, grant.scope)
    remaining = subject.expires_at - services.clock()
    if remaining < 1:
        raise InvalidGrant("subject_token expires now")
    identity = subject.identity
    token = await access_token(
        services,
        call,
        client,
        subject.audience,
        scopes,
        User(subject=identity.subject, email=identity.email, groups=identity.groups),
        # A machine's or workload's token stays one when delegated (``tokens/origin.py``).
        extra_claims={
            "act": _nested_act(chain),
            "gty": GRANT_TYPE_CLAIM,
            **delegated_origin(subject.payload),
        },
        lifetime=min(services.config.tokens.access_token_ttl, timedelta(seconds=remaining)),
        # Revoking the subject token ends this one too (``issued.revoke_descendants``).
        parent_jti=subject.jti,
    )
    audit(
        "token_exchanged",
        sub=identity.subject,
        actors=list(chain),
        client_id=client.client_id,
        host=subject.audience,
        scopes=list(scopes),
        jti=token.jti,
        subject_jti=subject.jti,
    )
    return {**token_response(token, None), "issued_token_type": ACCESS_TOKEN_TYPE}


def _check_types(grant: TokenExchangeGrant) -> None:
    """RFC 8693 §2.1: only access tokens here, in and out."""
    if grant.subject_token_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequest(f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
    if (grant.actor_token is None) != (grant.actor_token_type is None):
        raise InvalidRequest("actor_token and actor_token_type go together")
    if grant.actor_token_type not in (None, ACCESS_TOKEN_TYPE):
        raise InvalidRequest(f"actor_token_type must be {ACCESS_TOKEN_TYPE}")
    if grant.requested_token_type not in (None, ACCESS_TOKEN_TYPE):
        raise InvalidRequest(f"requested_token_type must be {ACCESS_TOKEN_TYPE}")


def _check_host(
    services: Services, call: TokenCall, client: RegisteredClient, resource: str
) -> None:
    """Minted only by the subject token's own authorization server (one tenant's /token never
    mints for another's host), and only for a host the acting machine client is bound to."""
    host = services.host_for_resource(resource)
    if host is None:
        raise InvalidTarget(f"{resource} is no longer served here")
    if host.issuer != call.issuer:
        raise InvalidTarget(f"subject_token is for {resource}, served by {host.issuer}")
    if client.machine is not None and host.host not in client.machine.hosts:
        raise InvalidTarget(f"this machine client is not bound to {host.host}")


def _check_possession(call: TokenCall, claims: AccessClaims, name: str) -> None:
    """A bound token only counts with a proof of its key (RFC 9449 §1: a stolen one is inert)."""
    if claims.jkt is not None and call.dpop_jkt != claims.jkt:
        raise InvalidGrant(f"{name} is DPoP-bound: send a DPoP proof signed with its key")


def _dpop_off(services: Services, resource: str) -> bool:
    host = services.host_for_resource(resource)
    return host is not None and host.config.dpop == "off"


def _verifier(services: Services) -> TokenVerifier[None]:
    """The checks of ``/authenticate`` against the same keys and revocation list, uncached."""
    return TokenVerifier(
        services.keys,
        lambda _claims: None,
        clock_skew=services.config.tokens.clock_skew,
        cache_size=0,
        revocations=services.revocations,
        clock=services.clock,
    )


def _verified(
    services: Services, verifier: TokenVerifier[None], token: str, name: str
) -> AccessClaims:
    try:
        return verifier.verify_for_any_host(token, services.hosts.hosts)
    except InvalidToken as exc:
        reason = exc.reason
        raise InvalidGrant(f"{name} is not a live access token issued here ({reason})") from None


def _narrowed(held: tuple[str, ...], asked: str | None) -> tuple[str, ...]:
    """The subject token's scopes, or the asked subset of them (in the token's order)."""
    if asked is None:
        return held
    wanted = set(asked.split())
    if not wanted <= set(held):
        extra = " ".join(sorted(wanted - set(held)))
        raise InvalidScope(f"the subject token does not hold {extra}")
    return tuple(scope for scope in held if scope in wanted)


def _nested_act(chain: tuple[str, ...]) -> dict[str, Any]:
    """RFC 8693 §4.1: the current actor (``chain[0]``) outermost, each earlier one in its
    ``act``."""
    act: dict[str, Any] = {"sub": chain[-1]}
    for sub in reversed(chain[:-1]):
        act = {"sub": sub, "act": act}
    return act
