"""A cached check on a host with rate limits against the same check on a host without, in process.

    .venv/bin/python bench/ratelimit_cost.py [--reps 30] [--calls 3000]

Two hosts of one service, the same token and the same forwarded ``tools/call`` body; one host
limits requests and tool calls per user, calls of one tool per user and requests per client
(four buckets spent per request, limits high enough that every answer is 200), the other has no
limits. Each request goes through the service's ASGI entry, ``/authenticate`` as the gateway
calls it; HTTP parsing is left out, since over loopback it is most of the cost and its noise
hides a difference of a few percent. Blocks alternate, pinned to one core, in many short
blocks: the fastest block of each is its cost without other processes' noise (the median is
printed too). Nothing here touches the store: reconciliation is a background task, once a second.
"""

from __future__ import annotations

import asyncio

from in_process import PLAIN, arguments, compare, tool_call

SCOPES = [{"name": "files", "tools": ["delete_file", "read_rows"]}]
HIGH = {"limit": 10_000_000, "window": "1s"}
LIMITS = {
    "perUser": {"requests": HIGH, "toolCalls": HIGH, "tools": {"delete_file": HIGH}},
    "perClient": {"requests": HIGH},
}


async def main() -> None:
    await compare(
        arguments(__doc__.splitlines()[0]),
        {"host": PLAIN, "scopes": SCOPES},
        {"host": "limited.example.test", "scopes": SCOPES, "rateLimits": LIMITS},
        scopes=("files",),
        body=tool_call("delete_file", {"path": "notes/old.txt"}),
        what="rate limits",
        target="a rate-limited cached check against a plain one",
    )


if __name__ == "__main__":
    asyncio.run(main())
