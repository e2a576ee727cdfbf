"""A cached check on a host with CEL rules against the same check on a host without, in process.

    .venv/bin/python bench/rules_cost.py [--reps 30] [--calls 3000]

Two hosts of one service, the same token claims and the same forwarded ``tools/call`` body;
one host has the agentgateway example rule (and a rule on arguments), the other none. Each
request goes through the service's ASGI entry, ``/authenticate`` as the gateway calls it, with
the body (so the rules see arguments); HTTP parsing is left out, since over loopback it is most
of the cost and its noise hides a difference of a few percent. Blocks alternate, pinned to one
core, in many short blocks: the machine is shared, so the fastest block of each is its cost
without other processes' noise (the median is printed too). Issue 18: at most 1.2x.
"""

from __future__ import annotations

import asyncio

from in_process import PLAIN, arguments, compare, tool_call

ROLES = "https://mcp-demo/roles"
SCOPES = [{"name": "files:delete", "tools": ["delete_file", "read_rows"]}]
RULES = [
    {
        "deny": 'mcp.tool.name == "read_rows" && mcp.tool.arguments.table == "salaries"',
        "message": "salaries are off limits",
    },
    {
        "allow": 'mcp.tool.name == "delete_file" && jwt.scope.contains("files:delete") && '
        'jwt["https://mcp-demo/roles"].contains("admin")',
        "message": "admins only",
    },
]


async def main() -> None:
    await compare(
        arguments(__doc__.splitlines()[0]),
        {"host": PLAIN, "scopes": SCOPES},
        {"host": "ruled.example.test", "scopes": SCOPES, "rules": RULES},
        scopes=("files:delete",),
        body=tool_call("delete_file", {"path": "notes/old.txt"}),
        what="rules",
        target="target at most 1.2x",
        claims={ROLES: ["admin"]},
    )


if __name__ == "__main__":
    asyncio.run(main())
