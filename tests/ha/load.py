"""A bounded load generator: simulated MCP clients refreshing and calling through the gateway.

Every loop is bounded in time and in rounds. Outcomes are counted as ``kind:status`` (e.g.
``mcp:200``, ``refresh:503``, ``refresh:error``) so a test can assert on exactly what happened.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.ha.client import OAuthClient, Tokens

MAX_ROUNDS = 2_000
PAUSE = 0.01


@dataclass
class Session:
    """One signed-in client: its newest tokens, and every access token it ever got."""

    tokens: Tokens
    issued: list[str] = field(default_factory=list)
    #: A refresh whose answer was lost: the token may or may not have been rotated.
    in_doubt: bool = False


@dataclass
class Outcomes:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, status: int | str) -> None:
        self.counts[f"{kind}:{status}"] += 1

    def of(self, kind: str) -> dict[str, int]:
        prefix = f"{kind}:"
        return {k[len(prefix) :]: v for k, v in self.counts.items() if k.startswith(prefix)}


async def drive(
    oauth: OAuthClient,
    session: Session,
    gateway: str,
    outcomes: Outcomes,
    *,
    seconds: float,
    refresh: bool,
) -> None:
    """Until ``seconds`` pass (or MAX_ROUNDS): refresh (optionally), then call the MCP server."""
    deadline = time.monotonic() + seconds
    for _round in range(MAX_ROUNDS):
        if time.monotonic() >= deadline:
            return
        if refresh and not session.in_doubt:
            await _refresh(oauth, session, gateway, outcomes)
        try:
            status: int | str = await oauth.call_mcp(gateway, session.tokens.access)
        except httpx.HTTPError:
            status = "error"
        outcomes.add("mcp", status)
        await asyncio.sleep(PAUSE)


async def _refresh(oauth: OAuthClient, session: Session, gateway: str, outcomes: Outcomes) -> None:
    try:
        response = await oauth.refresh(gateway, session.tokens.client_id, session.tokens.refresh)
    except httpx.HTTPError:
        outcomes.add("refresh", "error")
        session.in_doubt = True
        return
    outcomes.add("refresh", response.status_code)
    if response.status_code == 200:
        body = response.json()
        session.tokens = Tokens(
            session.tokens.client_id, body["access_token"], body["refresh_token"]
        )
        session.issued.append(body["access_token"])
    elif response.status_code in (502, 504):
        # The gateway lost the replica mid-request: the refresh may have happened or not.
        session.in_doubt = True
