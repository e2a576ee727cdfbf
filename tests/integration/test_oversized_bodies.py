"""Oversized bodies cost the running service no memory, at every endpoint that takes one.

``mcp-gatekeeper serve`` runs as operators start it, in its own process, so its memory is
measured alone (``/proc/<pid>/status``): the peak resident size (VmHWM) and the resident size
(VmRSS) after a warm-up, and again after a flood of 48 MiB bodies, half announced by
``Content-Length`` and half chunked. The test streams each body from a generator and never holds
one. Before bodies were capped while read, each such request grew the process by ~90 MiB.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import Proc, free_port, start_proc, wait_for_port

SCRIPT = Path(sys.executable).parent / "mcp-gatekeeper"
HOST = "mcp.example.com"
MIB = 1024 * 1024
BODY_MIB = 48
#: Each endpoint gets this many oversized bodies in the measured flood.
FLOOD = 10
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Endpoint:
    path: str
    content_type: str
    #: The answer to an oversized body: status, and a text the answer must contain.
    status: int
    says: str


ENDPOINTS = [
    Endpoint("/register", "application/json", 400, "invalid_client_metadata"),
    Endpoint("/token", FORM, 400, "invalid_request"),
    Endpoint("/revoke", FORM, 400, "invalid_request"),
    Endpoint("/consent", FORM, 400, "too large"),
    # No token: refused as usual (401), after the body was handled within its cap.
    Endpoint("/authenticate", "application/json", 401, ""),
]


@dataclass
class Service:
    proc: Proc
    http: httpx.Client

    def memory(self) -> tuple[int, int]:
        """(peak resident bytes, resident bytes) of the service process."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = value
        return _kib(fields["VmHWM"]) * 1024, _kib(fields["VmRSS"]) * 1024


def _kib(value: str) -> int:
    number, unit = value.split()
    assert unit == "kB", value
    return int(number)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("oversized-bodies")
    port = free_port()
    config = workdir / "config.yaml"
    config.write_text(
        f"proxy:\n  hosts:\n    - host: {HOST}\nserver:\n  port: {port}\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_GATEKEEPER")}
    cmd = [str(SCRIPT), "serve", "--config", str(config)]
    with start_proc(cmd, workdir / "serve.log", env) as proc:
        try:
            wait_for_port(port, timeout=30)
        except TimeoutError:
            raise AssertionError(proc.describe("mcp-gatekeeper serve did not listen")) from None
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"host": HOST}, timeout=60) as http:
            yield Service(proc, http)


def _chunks(size: int) -> Iterator[bytes]:
    """``size`` bytes of a plausible body, one MiB at a time (the same MiB each time)."""
    chunk = b"a=" + b"b" * (MIB - 2)
    for _ in range(size // MIB):
        yield chunk


def _send(service: Service, endpoint: Endpoint, announced: bool) -> httpx.Response:
    size = BODY_MIB * MIB
    headers = {"content-type": endpoint.content_type}
    if announced:  # else httpx sends it chunked, with no length known in advance
        headers["content-length"] = str(size)
    return service.http.post(endpoint.path, content=_chunks(size), headers=headers)


def _refused(service: Service, endpoint: Endpoint, announced: bool) -> None:
    response = _send(service, endpoint, announced)
    assert response.status_code == endpoint.status, (endpoint, announced, response.text[:300])
    assert endpoint.says in response.text, (endpoint, response.text[:300])


def test_oversized_bodies_do_not_grow_the_service(service: Service) -> None:
    """Ten 48 MiB bodies to each endpoint: the peak and the resident size grow by less than
    1 MiB per request, every one is answered with the endpoint's usual error, and the service
    logs no traceback and still answers at once."""
    for endpoint in ENDPOINTS:  # warm-up: the first oversized request of each kind
        _refused(service, endpoint, announced=True)
        _refused(service, endpoint, announced=False)
    peak_before, resident_before = service.memory()
    started = time.monotonic()
    for endpoint in ENDPOINTS:
        for n in range(FLOOD):
            _refused(service, endpoint, announced=n % 2 == 0)
    elapsed = time.monotonic() - started
    peak_after, resident_after = service.memory()
    requests = FLOOD * len(ENDPOINTS)
    peak_growth, resident_growth = peak_after - peak_before, resident_after - resident_before
    print(
        f"{requests} x {BODY_MIB} MiB in {elapsed:.1f}s: peak {peak_before / MIB:.1f} -> "
        f"{peak_after / MIB:.1f} MiB, resident {resident_before / MIB:.1f} -> "
        f"{resident_after / MIB:.1f} MiB"
    )
    # Any one request holding its body would raise the peak by 48 MiB.
    assert peak_growth < MIB, f"the peak grew by {peak_growth / MIB:.2f} MiB"
    # What stays after them: a leak of a fraction of each body would show here.
    assert resident_growth / requests < MIB, (
        f"resident size grew by {resident_growth / MIB:.2f} MiB over {requests} requests"
    )
    healthz = time.monotonic()
    assert service.http.get("/healthz").status_code == 200
    assert time.monotonic() - healthz < 1.0
    log = Path(service.proc.log_path).read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and '"exception"' not in log, service.proc.log_tail()
