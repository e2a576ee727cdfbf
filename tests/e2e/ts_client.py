"""The official MCP TypeScript SDK (npm ``@modelcontextprotocol/sdk``, pinned by
``tests/e2e/ts_client/package-lock.json``) as a real MCP client: ``ts_client/call_tool.mjs`` run
with node, one tool call per process.

The SDK is used as shipped: ``Client`` over ``StreamableHTTPClientTransport``, with the bearer
token as the only header added. A missing node or npm install raises :class:`TsClientError` (the
test fails, it is not skipped), as does a crash or a hang of the script; what the server answered
(success, an HTTP error, a JSON-RPC error) comes back as a :class:`TsCallResult`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tests.e2e.node_package import installed_package

TS_CLIENT_DIR = Path(__file__).resolve().parent / "ts_client"
SCRIPT = TS_CLIENT_DIR / "call_tool.mjs"
PACKAGE = "@modelcontextprotocol/sdk"
INSTALL_HINT = "run scripts/install-test-deps.sh (it installs node's @modelcontextprotocol/sdk)"
#: The script gives up by itself after 20 s (and says so); this is for a script that hangs.
TIMEOUT = 30.0


class TsClientError(RuntimeError):
    """The TypeScript client could not run, crashed, hung, or printed something unexpected."""


@dataclass(frozen=True)
class TsCallResult:
    """What the script printed: on success ``result`` is the ``CallToolResult`` (as JSON).

    On failure ``stage`` says whether connecting (``initialize``) or the call itself failed, and
    ``status`` is the HTTP status when the SDK's error carries one (else ``None``, e.g. for a
    JSON-RPC error or a network error).
    """

    ok: bool
    status: int | None
    message: str | None
    result: dict[str, Any] | None
    stage: Literal["connect", "call"] | None


def _node() -> str:
    return installed_package(TS_CLIENT_DIR, PACKAGE, INSTALL_HINT, TsClientError)[0]


def _parse(stdout: str) -> TsCallResult:
    lines = stdout.splitlines()
    if len(lines) != 1:
        raise ValueError(f"expected one line, got {len(lines)}")
    line = json.loads(lines[0])
    if not isinstance(line, dict) or not isinstance(line.get("ok"), bool):
        raise ValueError("not an object with a boolean 'ok'")
    if line["ok"]:
        result = line.get("result")
        if not isinstance(result, dict):
            raise ValueError("'result' is not an object")
        return TsCallResult(ok=True, status=None, message=None, result=result, stage=None)
    stage, status, message = line.get("stage"), line.get("status"), line.get("message")
    if stage not in ("connect", "call"):
        raise ValueError(f"unknown stage {stage!r}")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
        raise ValueError(f"'status' is not an integer: {status!r}")
    if not isinstance(message, str):
        raise ValueError("'message' is not a string")
    return TsCallResult(ok=False, status=status, message=message, result=None, stage=stage)


async def call_tool_with_ts_sdk(
    url: str, token: str, tool: str, arguments: dict[str, object] | None = None
) -> TsCallResult:
    """Connect to the MCP endpoint ``url`` with ``Authorization: Bearer <token>``, call ``tool``."""
    command = [_node(), str(SCRIPT), url, token, tool]
    if arguments is not None:
        command.append(json.dumps(arguments))
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=TS_CLIENT_DIR,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise TsClientError(f"call_tool.mjs did not finish within {TIMEOUT:.0f} s") from None
    out, err = stdout.decode(errors="replace"), stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise TsClientError(
            f"call_tool.mjs exited with {proc.returncode}\nstdout: {out}\nstderr: {err}"
        )
    try:
        return _parse(out)
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        raise TsClientError(
            f"call_tool.mjs printed an unexpected answer ({error})\nstdout: {out}\nstderr: {err}"
        ) from None
