"""Loopback port helpers.

The test machine is shared with other jobs, so the harness never hard-codes a port: it asks the
kernel for a free one and then waits until whatever was started on it accepts connections.
"""

from __future__ import annotations

import socket
import time

LOOPBACK = "127.0.0.1"

# Short enough that a fast process is seen as ready almost at once, long enough not to spin.
_POLL_INTERVAL = 0.02


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now.

    The port is released before it is returned, so another process may take it before the
    caller binds it; callers that start a server on it should retry with a new port when the
    server reports "address already in use" (run_gateway does).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to 127.0.0.1:port succeeds now."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until 127.0.0.1:port accepts TCP connections, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    while True:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"nothing accepted TCP connections on {LOOPBACK}:{port} within {timeout:.1f}s "
                f"(last error: {last_error})"
            )
        time.sleep(_POLL_INTERVAL)
