"""``provider.copyClaims``: the identity provider's claims that rules read, copied into our tokens.

Bounded so that a provider cannot grow every access token (at most ``MAX_TOKEN_BYTES``, 8 KiB,
is ever accepted): a claim larger than ``MAX_CLAIM_BYTES`` as JSON, or one that would take the
copied claims past ``MAX_COPIED_BYTES``, is left out whole, never cut. Leaving it out fails
closed: a rule reading it fails to evaluate, and a failing rule never allows (a shortened role
list could have dropped the very value a ``deny`` rule looks for).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: One claim, as compact JSON.
MAX_CLAIM_BYTES = 1024
#: All copied claims of a token together.
MAX_COPIED_BYTES = 2048


def copy_claims(claims: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The claims named, in the order named, each kept only if it fits."""
    copied: dict[str, Any] = {}
    total = 0
    for name in names:
        if name not in claims:
            continue
        size = len(json.dumps(claims[name], separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_CLAIM_BYTES or total + size > MAX_COPIED_BYTES:
            log.warning(
                "claim %r left out of access tokens: %d bytes is over the limit", name, size
            )
            continue
        copied[name] = claims[name]
        total += size
    return copied
