"""Signing keys: one key (``signing_key``), the three-key ring (``ring``), ``rotation``."""

from .ring import KeyRing
from .rotation import KeyManager, NotReady
from .signing_key import ALGORITHM, SigningKey, generate_signing_key, thumbprint

__all__ = [
    "ALGORITHM",
    "KeyManager",
    "KeyRing",
    "NotReady",
    "SigningKey",
    "generate_signing_key",
    "thumbprint",
]
