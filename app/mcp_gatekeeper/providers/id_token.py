"""ID token validation, OIDC Core 1.0 §3.1.3.7, with keys from the IdP's JWKS.

Times are checked here against the injected clock (PyJWT would read the wall clock), so tests
and the service agree on "now".
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Any

import jwt

from .base import ProviderError
from .oidc_metadata import OidcDiscovery, OidcMetadata

#: Clock skew tolerated between us and the IdP.
LEEWAY = 60.0


async def verify_id_token(
    token: str,
    *,
    discovery: OidcDiscovery,
    metadata: OidcMetadata,
    client_id: str,
    issuers: Collection[str],
    now: float,
    nonce: str | None,
) -> dict[str, Any]:
    """The verified claims, or ``ProviderError`` saying what was wrong.

    ``nonce`` is None only for a token from a refresh (OIDC Core §12.2 puts no nonce rule there).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise ProviderError(f"the ID token is malformed: {exc}") from exc
    alg = header.get("alg")
    # §3.1.3.7 #7: the alg must be the one registered/advertised; we additionally never take
    # none or HS* (see ASYMMETRIC_ALGS), whatever the token or the IdP claims.
    if not isinstance(alg, str) or alg not in metadata.signing_algs:
        raise ProviderError(
            f"the ID token is signed with {alg!r}; expected one of {sorted(metadata.signing_algs)}"
        )
    kid = header.get("kid")
    jwk = await discovery.key(kid if isinstance(kid, str) else None)
    if jwk.get("alg", alg) != alg:
        raise ProviderError(f"the ID token's alg {alg} does not match key {kid!r}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            jwt.PyJWK(jwk, algorithm=alg),
            algorithms=[alg],
            audience=client_id,
            issuer=list(issuers),
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "sub", "aud", "exp", "iat"],
            },
        )
    except jwt.PyJWTError as exc:
        raise ProviderError(f"the ID token was refused: {exc}") from exc
    _check_times(claims, now)
    _check_azp(claims, client_id)
    if nonce is not None:
        got = claims.get("nonce")
        # §3.1.3.7 #11: the nonce ties the token to this browser's login (replay defence).
        if not isinstance(got, str) or not hmac.compare_digest(got, nonce):
            raise ProviderError("the ID token's nonce does not match this login")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise ProviderError("the ID token has no subject")
    return claims


def _check_times(claims: dict[str, Any], now: float) -> None:
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise ProviderError("the ID token's exp/iat are not numbers")
    if exp <= now - LEEWAY:
        raise ProviderError("the ID token has expired")
    if iat > now + LEEWAY:
        raise ProviderError("the ID token was issued in the future (clock skew?)")
    if isinstance(nbf, int | float) and nbf > now + LEEWAY:
        raise ProviderError("the ID token is not valid yet")


def _check_azp(claims: dict[str, Any], client_id: str) -> None:
    # §3.1.3.7 #4-5: with several audiences the authorized party must be us.
    aud, azp = claims["aud"], claims.get("azp")
    if isinstance(aud, list) and len(aud) > 1 and azp is None:
        raise ProviderError("the ID token has several audiences but no azp")
    if azp is not None and azp != client_id:
        raise ProviderError("the ID token was issued to another client (azp)")
