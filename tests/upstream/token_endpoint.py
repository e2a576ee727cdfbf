"""A stand-in upstream token endpoint on loopback: it answers what the test sets (status and
raw body, so a test can send JSON no real server should) and records each request's form."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class TokenEndpoint:
    url: str = ""
    status: int = 200
    body: bytes = b'{"access_token": "api-token", "refresh_token": "r1", "expires_in": 3600}'
    calls: list[str] = field(default_factory=list)


@contextmanager
def run_token_endpoint() -> Iterator[TokenEndpoint]:
    """Serve ``POST /token`` on a free loopback port."""
    endpoint = TokenEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            endpoint.calls.append(self.rfile.read(length).decode())
            self.send_response(endpoint.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(endpoint.body)))
            self.end_headers()
            self.wfile.write(endpoint.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/token"
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
