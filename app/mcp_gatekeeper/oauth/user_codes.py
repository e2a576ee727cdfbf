"""User codes of the device flow (RFC 8628 §6.1): short enough to type, hard enough to guess.

Twenty consonants without look-alikes (no 0/O, 1/I, and no vowels, so no words can be spelled),
eight of them (20^8, about 2.6e10 codes), shown as ``XXXX-XXXX``. What a person types is
normalised first: case, dashes and spaces do not matter.
"""

from __future__ import annotations

import secrets

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
LENGTH = 8
#: Longer input is not a user code, and is not worth normalising.
MAX_INPUT = 64


def new_user_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def shown(code: str) -> str:
    """How a code is displayed (the device, the consent page): ``BCDF-GHJK``."""
    half = LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalise(entered: str) -> str | None:
    """The code a person meant, or ``None`` when what they typed cannot be a code."""
    if len(entered) > MAX_INPUT:
        return None
    code = "".join(char for char in entered.upper() if char not in "- \t")
    if len(code) != LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code
