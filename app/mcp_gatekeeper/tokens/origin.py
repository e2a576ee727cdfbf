"""Whose sign-in an access token comes from: a user's, or a machine's or workload's.

A user's own upstream credential (``proxy.hosts[].upstream``) is handed over only for a token
of a user's login, never for one whose ``sub`` merely equals a user's: a machine client's id or
a workload's subject is chosen by an operator or a cluster, not vouched for by the identity
provider. What counts as a user's login:

- no ``gty``: authorization code, its refresh tokens, device code (the user signed in);
- ``gty`` jwt-bearer with ``enterprise_iss``: an ID-JAG, which the enterprise IdP issued for a
  signed-in user (a workload's jwt-bearer token carries ``workload_iss`` instead);
- ``gty`` token-exchange without ``sub_gty``: an agent acting for a user holds the user's
  delegated token, and the MCP server it calls acts for that user, so it gets the user's
  credential. An exchanged token whose subject token was a machine's or workload's names that
  grant in ``sub_gty`` (``delegated_origin``), so delegation never turns one into a user.

Any other ``gty`` (``client_credentials``, and grants added later) is not a user's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: ``oauth/grants/token_exchange.py`` GRANT_TYPE_CLAIM.
TOKEN_EXCHANGE = "token-exchange"  # noqa: S105 (a claim value)
#: On an exchanged token: the grant of the machine's or workload's token it was exchanged from.
SUBJECT_GRANT_CLAIM = "sub_gty"


def machine_grant(payload: Mapping[str, Any]) -> str | None:
    """The grant of a token that is not from a user's login (``client_credentials``, the
    jwt-bearer URN of a workload...); None for a user's."""
    grant = payload.get("gty")
    if grant is None:
        return None
    if grant == JWT_BEARER and "enterprise_iss" in payload:
        return None
    if grant == TOKEN_EXCHANGE:
        carried = payload.get(SUBJECT_GRANT_CLAIM)
        return None if carried is None else str(carried)
    return str(grant)


def delegated_origin(subject_payload: Mapping[str, Any]) -> dict[str, str]:
    """Claims an exchanged token carries over from its subject token: ``sub_gty`` when that
    token was not a user's (none when it was)."""
    grant = machine_grant(subject_payload)
    return {} if grant is None else {SUBJECT_GRANT_CLAIM: grant}
