"""Enterprise-managed authorization: ID-JAGs (draft-ietf-oauth-identity-assertion-authz-grant-04)
of a trusted enterprise IdP, verified and turned into the user they vouch for.

An ID-JAG is a JWT the enterprise IdP issued to an MCP client by token exchange; the client
presents it at our ``/token`` with the jwt-bearer grant. It is recognised by its header alone
(``typ: oauth-id-jag+jwt``, compared as RFC 7515 §4.1.9 says: case-insensitive, with or without
``application/``), so an ID-JAG never meets the workload rules and a JWT without that ``typ``
never comes here. The IdPs of ``grants.enterprise.issuers[]`` are ``TrustedSigners``: each keeps
one key set, and the unverified ``iss`` only picks whose keys verify the JWT.

What is checked here is what the JWT says on its own: signature by that IdP (algorithm allow-list,
no header parameter pointing at other keys), ``iss``, ``aud`` (our issuer: the ID-JAG's audience
is the resource authorization server), ``exp``/``iat`` within ``maxLifetime``, ``sub``, and the
shape of ``client_id``, ``resource``, ``scope``, ``email`` and the groups claim. What it is
compared with (the client, the hosts, the scopes) and single use are the grant's
(``grants/id_jag.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from ..config.grants import EnterpriseConfig, EnterpriseIssuerConfig
from ..providers import UpstreamIdentity
from .assertions import MAX_ASSERTION_BYTES, AssertionRejected
from .signers import TrustedSigners

ID_JAG_TYP = "oauth-id-jag+jwt"
#: The longest ``sub`` or ``email`` that becomes a token's subject.
MAX_SUBJECT_CHARS = 512


@dataclass(frozen=True)
class IdJag:
    """A verified ID-JAG: its issuer's settings, its claims, and the user it vouches for."""

    config: EnterpriseIssuerConfig
    claims: dict[str, Any]
    identity: UpstreamIdentity
    #: The client it was issued to, as the IdP names it at this authorization server.
    client_id: str
    #: The MCP server it grants (RFC 9728 resource identifier), if it names one.
    resource: str | None
    #: The scopes it grants; None when it has no ``scope`` claim.
    scopes: tuple[str, ...] | None


def is_id_jag(assertion: str) -> bool:
    """Whether the JWT's header says it is an ID-JAG (nothing is verified yet)."""
    if len(assertion) > MAX_ASSERTION_BYTES:
        return False
    try:
        typ = jwt.get_unverified_header(assertion).get("typ")
    except jwt.PyJWTError:
        return False
    return isinstance(typ, str) and typ.lower().removeprefix("application/") == ID_JAG_TYP


class EnterpriseIssuers:
    """The configured enterprise IdPs, each with its key set."""

    def __init__(self, config: EnterpriseConfig, http: httpx.AsyncClient) -> None:
        self._signers = TrustedSigners(config.issuers, http, kind="a trusted enterprise IdP")

    async def verify(self, assertion: str, *, audience: str, now: float, leeway: float) -> IdJag:
        """The ID-JAG ``assertion`` is, for the authorization server ``audience``, or
        ``AssertionRejected`` saying why not. Single use is left to the caller."""
        if not is_id_jag(assertion):
            raise AssertionRejected(f"the JWT's typ must be {ID_JAG_TYP}")
        signer = self._signers.pick(assertion)
        config = signer.config
        claims = await signer.verify(assertion, audience=audience, now=now, leeway=leeway)
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise AssertionRejected("the ID-JAG has no client_id claim")
        return IdJag(
            config,
            claims,
            _identity(config, claims),
            client_id,
            _optional_text(claims, "resource"),
            _scopes(claims),
        )


def _identity(config: EnterpriseIssuerConfig, claims: dict[str, Any]) -> UpstreamIdentity:
    """The user: by ``sub`` (the IdP's own identifier, exactly) or by verified ``email``."""
    sub = _printable(claims.get("sub"), "sub")
    email = claims.get("email", "")
    if not isinstance(email, str):
        raise AssertionRejected("the ID-JAG's email must be a string")
    # A signed grant vouches for its email unless it says otherwise (OIDC's email_verified).
    verified = claims.get("email_verified", True) is True
    if config.link_by == "email":
        if not email:
            raise AssertionRejected(f"the ID-JAG has no email claim ({config.issuer} links by it)")
        if not verified:
            raise AssertionRejected("the IdP has not verified the user's email (email_verified)")
        subject = _printable(email, "email")
    else:
        subject = sub
    return UpstreamIdentity(
        # Another IdP's (or the login's) user of the same name stays another user.
        subject=config.subject_prefix + subject,
        email=email,
        email_verified=verified,
        groups=_groups(config.groups_claim, claims),
        name=claims["name"] if isinstance(claims.get("name"), str) else "",
    )


def _printable(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise AssertionRejected(f"the ID-JAG's {name} must be a non-empty string")
    if len(value) > MAX_SUBJECT_CHARS or not value.isprintable():
        raise AssertionRejected(
            f"the ID-JAG's {name} must be printable and at most {MAX_SUBJECT_CHARS} chars"
        )
    return value


def _groups(claim: str | None, claims: dict[str, Any]) -> tuple[str, ...]:
    if claim is None or claim not in claims:
        return ()
    value = claims[claim]
    if not isinstance(value, list) or not all(isinstance(group, str) for group in value):
        raise AssertionRejected(f"the ID-JAG's {claim} must be a list of strings")
    return tuple(value)


def _optional_text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise AssertionRejected(f"the ID-JAG's {name} must be a non-empty string")
    return value


def _scopes(claims: dict[str, Any]) -> tuple[str, ...] | None:
    scope = claims.get("scope")
    if scope is None:
        return None
    if not isinstance(scope, str):
        raise AssertionRejected("the ID-JAG's scope must be a space-separated string")
    return tuple(dict.fromkeys(scope.split()))
