"""Access tokens: claims, minting, verification with its cache, and revocation."""

from .claims import AccessClaims, Identity
from .issue import IssuedToken, mint_access_token
from .revocation import RevocationList
from .verify import InvalidToken, TokenVerifier, Verified

__all__ = [
    "AccessClaims",
    "Identity",
    "InvalidToken",
    "IssuedToken",
    "RevocationList",
    "TokenVerifier",
    "Verified",
    "mint_access_token",
]
