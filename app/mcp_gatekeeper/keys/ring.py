"""The key ring: *next* (published, not yet signing), *current* (signing), retired (verify only).

Rotation promotes next to current and retires current. A retired key stays published until the
last token it could have signed has expired (retirement + token lifetime + clock skew), so every
live token stays verifiable and verifiers that cache JWKS already know the next key before it
signs anything. Pure logic with the time passed in; ``rotation.py`` does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from .signing_key import SigningKey


@dataclass(frozen=True)
class RetiredKey:
    key: SigningKey
    retired_at: float


@dataclass(frozen=True)
class KeyRing:
    """An immutable snapshot; rotation returns a new ring."""

    next: SigningKey
    current: SigningKey
    activated_at: float
    retired: tuple[RetiredKey, ...] = ()
    #: kid → public key for every key a live token may carry (next included: it is published).
    verification_keys: dict[str, rsa.RSAPublicKey] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        keys = {self.next.kid: self.next.public_key, self.current.kid: self.current.public_key}
        keys.update({old.key.kid: old.key.public_key for old in self.retired})
        object.__setattr__(self, "verification_keys", keys)

    def rotation_due_at(self, interval: float) -> float:
        return self.activated_at + interval

    def rotate(self, now: float, new_next: SigningKey, token_lifetime: float) -> KeyRing:
        """Promote next, retire current, drop retired keys no live token can carry any more."""
        retired = (*self.retired, RetiredKey(self.current, now))
        return KeyRing(
            next=new_next,
            current=self.next,
            activated_at=now,
            retired=tuple(old for old in retired if old.retired_at + token_lifetime > now),
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Current first, then next, then retired: never empty."""
        keys = [self.current, self.next, *(old.key for old in self.retired)]
        return {"keys": [key.public_jwk() for key in keys]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "next": self.next.to_dict(),
            "current": self.current.to_dict(),
            "activatedAt": self.activated_at,
            "retired": [
                {"key": old.key.to_dict(), "retiredAt": old.retired_at} for old in self.retired
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRing:
        return cls(
            next=SigningKey.from_dict(data["next"]),
            current=SigningKey.from_dict(data["current"]),
            activated_at=float(data["activatedAt"]),
            retired=tuple(
                RetiredKey(SigningKey.from_dict(old["key"]), float(old["retiredAt"]))
                for old in data["retired"]
            ),
        )
