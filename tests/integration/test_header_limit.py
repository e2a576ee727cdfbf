"""``server.maxHeaderBytes`` on the running service: ``mcp-gatekeeper serve`` as operators start it.

A client that bypasses the gateway can send any head; the service refuses an oversized one with
431 after reading little more than the limit, and keeps answering everybody else meanwhile.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mcp_gatekeeper.ops.header_limit import HEAD_SECONDS
from tests.integration.harness import free_port, start_proc, wait_for_port
from tests.store.conftest import fernet_key

SCRIPT = Path(sys.executable).parent / "mcp-gatekeeper"
HUGE = 24 * 1024 * 1024


@contextmanager
def _serving(tmp_path: Path, extra: str = "") -> Iterator[int]:
    """``mcp-gatekeeper serve`` on a free loopback port with ``extra`` settings; yields the
    port."""
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"proxy:\n  hosts:\n    - host: mcp.example.com\n{extra}", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_GATEKEEPER")}
    cmd = [str(SCRIPT), "serve", "--config", str(config), "--port", str(port)]
    with start_proc(cmd, tmp_path / "serve.log", env) as proc:
        try:
            wait_for_port(port, timeout=30)
        except TimeoutError:
            raise AssertionError(proc.describe("mcp-gatekeeper serve did not listen")) from None
        yield port


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A service with the default limit; yields its port."""
    with _serving(tmp_path_factory.mktemp("header-limit")) as port:
        yield port


def _get(port: int, headers: dict[str, str] | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/healthz", headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _send_head(port: int, head: bytes) -> tuple[bytes, float]:
    """Send ``head`` (from a second thread, as a flooding client would without reading) and
    return the status line of the answer and the seconds it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:

        def flood() -> None:
            try:
                sock.sendall(head)
            except OSError:
                pass  # the service stopped reading, as it should

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
        sock.shutdown(socket.SHUT_RDWR)
        sender.join(10)
    return answer.split(b"\r\n", 1)[0], elapsed


def test_a_huge_header_is_refused_quickly_and_others_are_served_meanwhile(service: int) -> None:
    """A 24 MiB header gets 431 in well under a second (it took 3 s to be parsed and answered
    before), and /healthz keeps answering within 0.5 s during the attack (it stalled 1.7 s)."""
    latencies: list[float] = []
    attack_over = threading.Event()

    def probe_health() -> None:
        while not attack_over.is_set():
            started = time.monotonic()
            assert _get(service) == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.01)

    prober = threading.Thread(target=probe_health, daemon=True)
    prober.start()
    time.sleep(0.1)
    head = b"GET /healthz HTTP/1.1\r\nHost: mcp.example.com\r\nX-Big: " + b"a" * HUGE + b"\r\n\r\n"
    status, elapsed = _send_head(service, head)
    time.sleep(0.1)
    attack_over.set()
    prober.join(10)
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert elapsed < 1.0, f"refused after {elapsed:.2f}s"
    assert latencies and max(latencies) < 0.5, f"/healthz took up to {max(latencies):.2f}s"


def test_a_huge_request_line_is_refused(service: int) -> None:
    """The request line counts too: a 24 MiB URL is refused the same way."""
    status, _ = _send_head(service, b"GET /" + b"a" * HUGE + b" HTTP/1.1\r\n\r\n")
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_large_but_normal_headers_pass(service: int) -> None:
    """A 16 KiB header (a big JWT or cookie) is served, again and again on one connection: each
    request's head is counted on its own."""
    connection = http.client.HTTPConnection("127.0.0.1", service, timeout=10)
    try:
        for _ in range(6):
            connection.request("GET", "/healthz", headers={"X-Pad": "b" * 16 * 1024})
            response = connection.getresponse()
            response.read()
            assert response.status == 200
    finally:
        connection.close()


def test_the_limit_is_configurable(tmp_path: Path) -> None:
    """``server.maxHeaderBytes: 16384`` refuses a 20 KiB head and still serves an 8 KiB one."""
    with _serving(tmp_path, "server:\n  maxHeaderBytes: 16384\n") as port:
        assert _get(port, {"X-Pad": "b" * 8 * 1024}) == 200
        head = b"GET /healthz HTTP/1.1\r\nX-Pad: " + b"b" * 20 * 1024 + b"\r\n\r\n"
        status, _ = _send_head(port, head)
        assert status == b"HTTP/1.1 431 Request Header Fields Too Large"


def _exchange(port: int, requests: bytes) -> list[bytes]:
    """Send ``requests`` in one write; the status lines of the answers until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(requests)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return [line for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def test_a_body_after_a_head_near_the_limit_is_not_counted(service: int) -> None:
    """Only the head counts: a 60 KiB head and its 10 KiB body, arriving in one write, are
    served."""
    body = b"b" * 10 * 1024
    head = b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
    head += b"X-Pad: %s\r\nContent-Length: %d\r\n\r\n" % (b"p" * 60 * 1024, len(body))
    assert _exchange(service, head + body) == [b"HTTP/1.1 200 OK"]


def test_many_small_pipelined_heads_in_one_read_are_all_served(service: int) -> None:
    """The cap is per head: 3,000 small requests arriving together (far more than the limit in
    one read) are each answered, and none is refused as too large."""
    one = b"GET /authenticate HTTP/1.1\r\nHost: mcp.example.com\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: mcp.example.com\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", service), timeout=10) as sock:
        sock.sendall(one * 3000 + last)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    # The 401s carry JSON bodies without a line end: status lines are found by their shape.
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert statuses == [b"401"] * 3000 + [b"200"]


def test_every_worker_process_applies_the_limit(tmp_path: Path) -> None:
    """With ``server.workers: 2`` the uvicorn workers are separate processes: each refuses the
    24 MiB header and serves the 16 KiB one, whichever worker accepts the connection."""
    store = f"store:\n  url: sqlite://{tmp_path}/state.db\n  encryptionKey: {fernet_key()}\n"
    with _serving(tmp_path, "server:\n  workers: 2\n" + store) as port:
        head = b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * HUGE + b"\r\n\r\n"
        for _ in range(4):
            assert _send_head(port, head)[0] == b"HTTP/1.1 431 Request Header Fields Too Large"
            assert _get(port, {"X-Pad": "b" * 16 * 1024}) == 200


def test_a_head_that_never_ends_is_cut_off(service: int) -> None:
    """A client sending a request line and then nothing (or a byte now and then: slowloris)
    loses its connection after HEAD_SECONDS, while a head sent at once is served."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", service), timeout=HEAD_SECONDS + 10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")
        assert _get(service) == 200  # everybody else is served meanwhile
        closed = sock.recv(4096)
        with socket.create_connection(("127.0.0.1", service), timeout=HEAD_SECONDS + 10) as silent:
            silent_closed = silent.recv(4096)  # a connection that sends nothing at all
    elapsed = time.monotonic() - started
    assert closed == b"" and silent_closed == b""
    assert HEAD_SECONDS - 1 <= elapsed <= 2 * HEAD_SECONDS + 5, elapsed
