"""A tiny real upstream API: it accepts only the test OpenID provider's access tokens (asking
the provider's introspection endpoint) and answers whose they are and for which audience."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from mcp_gatekeeper.providers.upstream_http import basic_auth
from tests.providers.oidc_server import CLIENT_ID, CLIENT_SECRET


@contextmanager
def run_whoami_api(issuer: str) -> Iterator[str]:
    """Serve ``GET /whoami`` on a free loopback port; yield its base URL."""
    discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
    introspection = discovery["introspection_endpoint"]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            scheme, _, token = (self.headers.get("authorization") or "").partition(" ")
            answer = {"active": False}
            if scheme.lower() == "bearer" and token:
                answer = httpx.post(
                    introspection,
                    data={"token": token},
                    headers={"authorization": basic_auth(CLIENT_ID, CLIENT_SECRET)},
                    timeout=5,
                ).json()
            if not answer.get("active"):
                self._send(401, {"error": "invalid_token"})
            else:
                self._send(200, {"sub": answer.get("sub"), "aud": answer.get("aud")})

        def _send(self, status: int, body: dict[str, object]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
