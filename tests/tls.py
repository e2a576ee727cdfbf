"""A throwaway certificate authority and a real HTTPS server on loopback, for tests.

The CA is made with ``cryptography`` per test session; the server is stdlib ``http.server`` with
``ssl`` in a thread on a free port, answering from a table of canned replies and counting hits.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    """PEM files: the CA certificate clients trust, and the server's chain and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(directory: Path) -> Pki:
    """A CA, and a certificate it signs for ``localhost``, ``client.test`` and ``127.0.0.1``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("mcp-gatekeeper test CA"))
        .issuer_name(_name("mcp-gatekeeper test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("client.test"),  # RFC 6761 reserves .test: resolved only by a test's stub
        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


@dataclass
class Reply:
    """What the server answers for one path (the path includes any query string)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (cut short when the server stops).
    delay: float = 0.0
    #: Extra bytes streamed after ``body`` without a Content-Length (the body ends at close).
    endless: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler: nothing outlives the test

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        # The handshake happens in the handler's thread, so a stuck client blocks nobody.
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )
        self.routes: dict[str, Reply] = {}
        self.hits: Counter[str] = Counter()
        self.request_headers: list[dict[str, str]] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that refuses our certificate, or hangs up mid-body, is what some tests test.
        exc = sys.exc_info()[1]
        if exc is not None:
            self.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10

    def setup(self) -> None:
        # Before the base class wraps the socket in files: if the client refuses our certificate,
        # socketserver's close of the bare socket then really closes it.
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1
        self.server.request_headers.append(dict(self.headers.items()))
        reply = self.server.routes.get(self.path, Reply(404, b"not here"))
        if reply.delay:
            self.server.stopping.wait(reply.delay)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if not reply.endless:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        chunk = b" " * 65536
        for _ in range(reply.endless // len(chunk)):
            self.wfile.write(chunk)

    def log_message(self, format: str, *args: object) -> None:
        pass


class HttpsServer:
    """A real HTTPS server on 127.0.0.1 and a free port; use as a context manager."""

    def __init__(self, pki: Pki) -> None:
        self._server = _Server(pki.server_context())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self.port: int = self._server.server_address[1]
        self.routes, self.hits = self._server.routes, self._server.hits
        self.request_headers, self.errors = self._server.request_headers, self._server.errors

    def __enter__(self) -> HttpsServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
