"""mcp-remote (npm ``mcp-remote``, pinned by ``tests/e2e/mcp_remote/package-lock.json``) as a real
MCP client: the stdio ↔ streamable HTTP bridge that desktop clients (Claude Desktop, Cursor,
Windsurf) start to reach a remote server. It runs as they run it, ``node dist/proxy.js <MCP URL>
<callback port>``, and the test is the desktop client: JSON-RPC lines on its stdin and stdout.

Its browser step is the person's. mcp-remote prints "Please authorize this client by visiting:"
and the URL on stderr, then asks xdg-open for a browser: ``BROWSER`` is ``true``, so that opens
nothing. :meth:`McpRemote.sign_in` takes the URL from stderr, follows it with the tests'
:class:`HeadlessBrowser` (the IdP's login, the consent page) and, as the browser would, requests
mcp-remote's own loopback callback with the code. Tokens go to a directory of the test's
(``MCP_REMOTE_CONFIG_DIR``, and ``HOME``), never to ``~/.mcp-auth``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.e2e.mcp_client import HeadlessBrowser
from tests.e2e.node_package import installed_package
from tests.integration.harness.ports import LOOPBACK, free_port

MCP_REMOTE_DIR = Path(__file__).resolve().parent / "mcp_remote"
PACKAGE = "mcp-remote"
INSTALL_HINT = "run scripts/install-test-deps.sh (it installs node's mcp-remote)"
AUTHORIZE_PROMPT = "Please authorize this client by visiting:"
#: Per JSON-RPC answer and per authorization URL: a login through Node's OpenID provider on a
#: busy 2-core machine takes seconds, mcp-remote's own wait for the callback is AUTH_TIMEOUT.
TIMEOUT = 60.0
AUTH_TIMEOUT = 45
PROTOCOL_VERSION = "2025-06-18"  # what desktop clients send mcp-remote today


class McpRemoteError(RuntimeError):
    """mcp-remote could not run, exited, or did not answer in time."""


def _proxy_script() -> tuple[str, Path]:
    """node and mcp-remote's proxy, checked against the pinned version."""
    node, package = installed_package(MCP_REMOTE_DIR, PACKAGE, INSTALL_HINT, McpRemoteError)
    return node, package / "dist" / "proxy.js"


class McpRemote:
    """A running mcp-remote: JSON-RPC requests in, answers out; its stderr kept for the test."""

    def __init__(self, proc: asyncio.subprocess.Process, callback: str) -> None:
        self.proc = proc
        #: The redirect URI it registered: its loopback callback server (``--host`` localhost).
        self.callback = callback
        self.stderr: list[str] = []
        self._urls: asyncio.Queue[str] = asyncio.Queue()
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._readers = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            message = json.loads(line)
            answer = self._answers.pop(message.get("id"), None) if "method" not in message else None
            if answer is not None:
                answer.set_result(message)
        for pending in self._answers.values():
            pending.set_exception(McpRemoteError(self.describe("mcp-remote closed its stdout")))

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        after_prompt = False
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stderr.append(line)
            if after_prompt and line.startswith("http"):
                self._urls.put_nowait(line)
            after_prompt = line.endswith(AUTHORIZE_PROMPT)

    def describe(self, what: str) -> str:
        tail = "\n".join(self.stderr[-30:])
        return f"{what} (exit status {self.proc.returncode}); its stderr:\n{tail}"

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one JSON-RPC request; its answer (``result`` or ``error``) as a whole."""
        assert self.proc.stdin is not None
        self._next_id += 1
        ident = self._next_id
        answer = self._answers[ident] = asyncio.get_running_loop().create_future()
        message = {"jsonrpc": "2.0", "id": ident, "method": method, "params": params or {}}
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()
        try:
            return await asyncio.wait_for(answer, TIMEOUT)
        except TimeoutError:
            raise McpRemoteError(
                self.describe(f"no answer to {method} in {TIMEOUT:.0f}s")
            ) from None

    async def notify(self, method: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": method}).encode() + b"\n")
        await self.proc.stdin.drain()

    async def initialize(self) -> dict[str, Any]:
        """The desktop client's handshake; the server's ``initialize`` result."""
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "e2e desktop client", "version": "1.0"},
        }
        answer = await self.request("initialize", params)
        assert "result" in answer, answer
        await self.notify("notifications/initialized")
        result: dict[str, Any] = answer["result"]
        return result

    async def call_tool(self, name: str, **arguments: Any) -> dict[str, Any]:
        """``tools/call``: the whole JSON-RPC answer (a refusal may be an error or a result)."""
        return await self.request("tools/call", {"name": name, "arguments": arguments})

    async def next_authorization_url(self) -> str:
        try:
            return await asyncio.wait_for(self._urls.get(), TIMEOUT)
        except TimeoutError:
            raise McpRemoteError(self.describe("no authorization URL printed")) from None

    async def sign_in(self, browser: HeadlessBrowser) -> str:
        """The person's part of the next sign-in mcp-remote asks for; the URL it printed.

        The browser signs in and consents, then brings the code to mcp-remote's callback.
        """
        url = await self.next_authorization_url()
        browser.redirect_uri = self.callback
        await browser.redirect_handler(url)
        code = await browser.callback_handler()
        query = {"code": code.code, "state": code.state or ""}
        if code.iss:
            query["iss"] = code.iss
        # A step-up prints the URL before its callback server listens again: the browser
        # lands there once it does (a person takes longer than this headless login).
        await self._callback_listening()
        landing = await browser.http.get(f"{self.callback}?{urlencode(query)}")
        assert landing.status_code == 200, (landing.status_code, landing.text[:300])
        return url

    async def _callback_listening(self) -> None:
        port = urlsplit(self.callback).port
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while True:
            try:
                _, writer = await asyncio.open_connection(LOOPBACK, port)
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise McpRemoteError(self.describe("its callback never listened")) from None
                await asyncio.sleep(0.05)
            else:
                writer.close()
                await writer.wait_closed()
                return

    async def aclose(self) -> None:
        if self.proc.returncode is None:
            # As a desktop client ends it: stdin closed, then a signal if it lingers.
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 5)
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


@asynccontextmanager
async def mcp_remote(url: str, config_dir: Path) -> AsyncIterator[McpRemote]:
    """mcp-remote for the MCP endpoint ``url`` (its tokens kept in ``config_dir``)."""
    node, proxy = _proxy_script()
    port = free_port()
    config_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(config_dir),
        "MCP_REMOTE_CONFIG_DIR": str(config_dir),
        # xdg-open (without a desktop) runs $BROWSER with the URL: `true` opens nothing.
        "BROWSER": shutil.which("true") or "/bin/true",
    }
    command = [node, str(proxy), url, str(port), "--auth-timeout", str(AUTH_TIMEOUT)]
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=config_dir,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    remote = McpRemote(proc, f"http://localhost:{port}/oauth/callback")
    try:
        yield remote
    finally:
        await remote.aclose()
