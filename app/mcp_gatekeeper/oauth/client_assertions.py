"""``private_key_jwt``: a machine client authenticates with a JWT it signed (RFC 7523 §2.2, §3).

The JWT's ``iss`` and ``sub`` are the client's id, its ``aud`` this issuer's token endpoint or
the issuer itself, it lives at most ``MAX_LIFETIME`` and its ``jti`` is accepted once across
every replica. Keys come only from the client's own ``jwks_uri`` or inline JWKS; the algorithm
comes from the configured list, never from the header (``assertions.verify_assertion``).
"""

from __future__ import annotations

from collections.abc import Mapping

import jwt

from ..config.grants import ASSERTION_ALGORITHMS
from ..paths import TOKEN_PATH
from ..services import Services
from .assertions import MAX_ASSERTION_BYTES, AssertionRejected, verify_assertion
from .clients.machines import PRIVATE_KEY_JWT
from .clients.models import RegisteredClient
from .errors import InvalidClient

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ASSERTION_PARAMS = ("client_assertion", "client_assertion_type")
#: A client signs a fresh JWT for each request: minutes are plenty, and a stolen one is
#: worth little (and is single use anyway).
MAX_LIFETIME = 300.0


async def by_assertion(
    services: Services,
    form: Mapping[str, str],
    authorization: str | None,
    issuer: str | None,
) -> RegisteredClient:
    """The machine client whose signed JWT the form carries; ``invalid_client`` otherwise."""
    if authorization is not None or "client_secret" in form:
        raise InvalidClient("Use one client authentication method, not two")
    if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}")
    assertion = form.get("client_assertion")
    if not assertion or len(assertion) > MAX_ASSERTION_BYTES:
        raise InvalidClient("client_assertion is missing or too large")
    if issuer is None:
        raise InvalidClient("Client assertions are accepted at the token and revocation endpoints")
    client_id = _claimed_client(assertion)
    if form.get("client_id", client_id) != client_id:
        raise InvalidClient("client_id differs from the client_assertion's sub")
    machine = await services.machines.get(client_id)
    if machine is None or machine.client.auth_method != PRIVATE_KEY_JWT:
        raise InvalidClient(f"{client_id!r} is not a client that authenticates with a JWT")
    now = services.clock()
    leeway = services.config.tokens.clock_skew.total_seconds()
    try:
        claims = await verify_assertion(
            assertion,
            services.machines.key_set(machine),
            issuer=client_id,
            audience=[issuer + TOKEN_PATH, issuer],
            algorithms=ASSERTION_ALGORITHMS,
            now=now,
            leeway=leeway,
            max_lifetime=MAX_LIFETIME,
        )
        if claims["sub"] != client_id:
            raise AssertionRejected("sub must be the client_id")
        await services.used_assertions.use_once(claims, now, leeway)
    except AssertionRejected as exc:
        raise InvalidClient(f"client_assertion refused: {exc}") from None
    return machine.client


def _claimed_client(assertion: str) -> str:
    """The client the JWT says it is from (RFC 7523 §3: ``sub`` is the client_id), only to pick
    the keys that must then have signed it."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidClient("client_assertion is not a JWT") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidClient("client_assertion has no sub (the client_id)")
    return subject
