"""Store keys derived from secrets: a store dump must not hand out usable codes or tokens."""

from __future__ import annotations

import hashlib


def secret_key(secret: str) -> str:
    # Every secret hashed here has >= 256 random bits: a plain, fast hash is enough.
    return hashlib.sha256(secret.encode()).hexdigest()
