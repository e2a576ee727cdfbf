"""``/authenticate`` answered by the HTTP protocol itself, as the service runs it.

Requests without a body are answered as soon as their headers are parsed; everything else goes
through the ASGI app. On the wire the two must be indistinguishable: order of pipelined answers,
keep-alive, ``Connection: close``, HTTP/1.0, HEAD, the date header, metrics.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_gatekeeper.asgi import GatekeeperApp
from tests.integration.service import Service, running_service
from tests.support import make_config, mint

HOST = "a.example.test"


class CountingAnswer:
    """Counts the requests the ASGI way answered (the protocol's own way never calls it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.inner = app
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self.inner(scope, receive, send)


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service(make_config()) as running:
        yield running


@pytest.fixture
def asgi_answers(service: Service) -> Iterator[CountingAnswer]:
    app = service.app
    assert isinstance(app, GatekeeperApp) and app.hot_path is not None
    counting = CountingAnswer(app.hot_path)
    app.hot_path = counting
    try:
        yield counting
    finally:
        app.hot_path = counting.inner


def _connect(service: Service) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.port), timeout=10)


def _read_responses(sock: socket.socket, count: int, *, head: bool = False) -> list[bytes]:
    """``count`` complete responses (head and body by Content-Length) from ``sock``."""
    buffer = b""
    responses: list[bytes] = []
    while len(responses) < count:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            found = re.search(rb"\r\ncontent-length: (\d+)\r\n", buffer[: end + 2], re.I)
            length = 0 if head or found is None else int(found.group(1))
            if len(buffer) >= end + 4 + length:
                responses.append(buffer[: end + 4 + length])
                buffer = buffer[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {len(responses)} responses")
        buffer += chunk
    assert buffer == b"", buffer
    return responses


def _request(path: str, *, token: str | None = None, extra: str = "", method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _closed(sock: socket.socket) -> bool:
    return sock.recv(1) == b""


def test_pipelined_requests_are_answered_in_order_on_one_connection(
    service: Service, asgi_answers: CountingAnswer
) -> None:
    """Checks answered while parsing, then behind a request the app is still answering (they
    wait for it, the ASGI way): one write each, answers in order, the connection kept."""
    token = mint(service.app, HOST)
    with _connect(service) as sock:
        sock.sendall(_request("/authenticate/mcp") + _request("/authenticate/mcp", token=token))
        answers = _read_responses(sock, 2)
        assert [_status(answer) for answer in answers] == [401, 200]
        assert b"\r\nx-auth-request-user: alice\r\n" in answers[1]
        assert asgi_answers.calls == 0
        sock.sendall(
            _request("/healthz")
            + _request("/authenticate/mcp", token=token)
            + _request("/authenticate/mcp", token="not-a-token")
        )
        answers = _read_responses(sock, 3)
        assert [_status(answer) for answer in answers] == [200, 200, 401]
        assert b"\r\nx-auth-request-user: alice\r\n" in answers[1]
        # Still open, and once nothing is pending a check is answered while parsing again.
        calls = asgi_answers.calls
        sock.sendall(_request("/authenticate", token=token))
        assert _status(_read_responses(sock, 1)[0]) == 200
        assert asgi_answers.calls == calls


def test_answers_carry_the_date_and_keep_the_connection(service: Service) -> None:
    token = mint(service.app, HOST)
    with _connect(service) as sock:
        for _ in range(3):
            sock.sendall(_request("/authenticate/mcp", token=token))
            (answer,) = _read_responses(sock, 1)
            assert re.search(rb"\r\ndate: .+ GMT\r\n", answer), answer
            assert b"connection: close" not in answer.lower()


def test_connection_close_and_http_1_0_end_the_connection(service: Service) -> None:
    token = mint(service.app, HOST)
    with _connect(service) as sock:
        sock.sendall(_request("/authenticate/mcp", token=token, extra="Connection: close"))
        (answer,) = _read_responses(sock, 1)
        assert _status(answer) == 200 and b"\r\nconnection: close\r\n" in answer
        assert _closed(sock)
    with _connect(service) as sock:
        sock.sendall(f"GET /authenticate/mcp HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        (answer,) = _read_responses(sock, 1)
        assert answer.startswith(b"HTTP/1.1 401 ") and b"\r\nconnection: close\r\n" in answer
        assert _closed(sock)


def test_head_gets_the_headers_without_the_body(service: Service) -> None:
    with _connect(service) as sock:
        sock.sendall(_request("/authenticate/mcp", method="HEAD"))
        (answer,) = _read_responses(sock, 1, head=True)
        assert _status(answer) == 401 and answer.endswith(b"\r\n\r\n")
        assert int(re.search(rb"content-length: (\d+)", answer).group(1)) > 0  # type: ignore[union-attr]
        # Nothing else follows: the next answer starts right at the next status line.
        sock.sendall(_request("/authenticate/mcp"))
        assert _status(_read_responses(sock, 1)[0]) == 401


def test_targets_the_parser_would_rewrite_go_the_asgi_way_with_the_same_answer(
    service: Service, asgi_answers: CountingAnswer
) -> None:
    """A percent-encoded target (decoded by ASGI) and a request with a body are not answered
    while parsing; their answers are the ones the app gives."""
    token = mint(service.app, HOST)
    with httpx.Client(base_url=service.url, headers={"Host": HOST}, trust_env=False) as http:
        encoded = http.get("/authenticate/%6Dcp", headers={"Authorization": f"Bearer {token}"})
        assert encoded.status_code == 200 and encoded.headers["x-auth-request-user"] == "alice"
        assert asgi_answers.calls == 1
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get"}}
        bearer = {"Authorization": f"Bearer {token}"}
        posted = http.post("/authenticate/mcp", json=call, headers=bearer)
        assert posted.status_code == 200
        assert asgi_answers.calls == 2
        bare = http.get("/authenticate/mcp", headers={"Authorization": f"Bearer {token}"})
        assert bare.status_code == 200 and asgi_answers.calls == 2


def test_answers_given_while_parsing_are_in_the_metrics(service: Service) -> None:
    with httpx.Client(base_url=service.url, headers={"Host": HOST}, trust_env=False) as http:

        def count() -> float:
            text = http.get("/metrics").text
            found = re.search(
                r'mcp_gatekeeper_http_request_duration_seconds_count\{method="GET",'
                r'route="/authenticate/\{path\}",status="401"\} (\S+)',
                text,
            )
            return float(found.group(1)) if found else 0.0

        before = count()
        for _ in range(3):
            assert http.get("/authenticate/mcp").status_code == 401
        assert count() == before + 3


def test_requests_behind_an_answer_that_closed_the_connection_are_not_decided(
    service: Service,
) -> None:
    """HTTP/1.0 ends the connection with its answer: what was pipelined behind it is neither
    answered nor counted (uvicorn queues such requests and never runs them)."""
    with httpx.Client(base_url=service.url, headers={"Host": HOST}, trust_env=False) as http:

        def refused() -> float:
            found = re.search(
                r'mcp_gatekeeper_auth_decisions_total\{host="a.example.test",'
                r'result="invalid_token"\} (\S+)',
                http.get("/metrics").text,
            )
            return float(found.group(1)) if found else 0.0

        before = refused()
        with _connect(service) as sock:
            sock.sendall(
                # A 1.0 keep-alive: the parser reads on, the answer still closes.
                f"GET /authenticate/mcp HTTP/1.0\r\nHost: {HOST}\r\n"
                "Connection: keep-alive\r\n\r\n".encode()
                + _request("/authenticate/mcp", token="not-a-token")
            )
            (answer,) = _read_responses(sock, 1)
            assert _status(answer) == 401 and _closed(sock)
        assert refused() == before
