"""An echo upstream (what the MCP server would be) and the threaded-server plumbing behind it.

It answers every method and path with 200 and a JSON description of the request exactly as the
gateway delivered it, so tests can check which identity headers really reached the upstream.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .ports import LOOPBACK


@dataclass(frozen=True)
class EchoUpstream:
    port: int
    url: str


def read_request_body(handler: BaseHTTPRequestHandler) -> bytes:
    """Read the body by Content-Length or chunked framing.

    It has to be consumed even when unused, or the next request on a kept-alive gateway
    connection would be parsed from the middle of this one.
    """
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size_line = handler.rfile.readline()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Skip optional trailers up to the blank line that ends the message.
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: object,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    """Send a JSON response with an explicit Content-Length (required for HTTP/1.1 keep-alive)."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    for name, value in headers or []:
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)


class QuietHandler(BaseHTTPRequestHandler):
    """Base for in-test servers: keep-alive, any method routed to ``answer``, no access log."""

    # HTTP/1.1 so gateways can keep upstream connections open, as they would in production.
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; with Nagle plus the peer's delayed ACK every response
    # would stall ~40 ms on loopback.
    disable_nagle_algorithm = True

    def answer(self) -> None:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Callable[[], None]:
        # BaseHTTPRequestHandler dispatches on do_<METHOD>; accept every method, even odd ones.
        if name.startswith("do_"):
            return self.answer
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _EchoHandler(QuietHandler):
    def answer(self) -> None:
        body = read_request_body(self)
        send_json(
            self,
            200,
            {
                "method": self.command,
                "path": self.path,
                "headers": [[name, value] for name, value in self.headers.items()],
                "body": body.decode("utf-8", errors="replace"),
            },
        )


class _QuietServer(ThreadingHTTPServer):
    # Handler threads may sit on idle keep-alive connections; they must not block shutdown.
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Gateways drop idle or half-read keep-alive connections with a reset (nginx after an
        # auth subrequest, Caddy after forward_auth); that is normal, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@contextmanager
def serve_in_thread(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """Run a ThreadingHTTPServer on 127.0.0.1:<kernel-chosen port> until the block exits.

    Binding port 0 directly (rather than free_port) avoids racing other jobs for the port.
    """
    server = _QuietServer((LOOPBACK, 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def server_port(server: ThreadingHTTPServer) -> int:
    port: int = server.server_address[1]
    return port


@contextmanager
def echo_upstream() -> Iterator[EchoUpstream]:
    """An upstream that answers everything with 200 and a JSON echo of the request."""
    with serve_in_thread(_EchoHandler) as server:
        port = server_port(server)
        yield EchoUpstream(port=port, url=f"http://{LOOPBACK}:{port}")
