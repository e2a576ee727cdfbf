"""mcp-gatekeeper itself under a real uvicorn on a loopback port, in a thread of the test process.

In-process so tests can mint tokens with the library API against the very key ring the server
verifies with (there is no token-minting HTTP endpoint).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.main import create_app
from mcp_gatekeeper.server import uvicorn_options
from tests.integration.harness import free_port
from tests.support import key_pool


@dataclass
class Service:
    app: FastAPI
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serving(
    server_config: uvicorn.Config,
    *,
    what: str = "mcp-gatekeeper",
    start_timeout: float = 15.0,
    **run: Any,
) -> Iterator[Callable[[], None]]:
    """Run a uvicorn server in a thread until the block ends (``run``: e.g. bound sockets).

    Yields ``stop``, for a test that stops the server inside the block; calling it again (as the
    end of the block does) changes nothing.
    """
    server = uvicorn.Server(server_config)
    thread = threading.Thread(target=server.run, kwargs=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    try:
        yield stop
    finally:
        stop()


def quiet_config(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> uvicorn.Config:
    """As ``mcp-gatekeeper serve`` runs the app (its HTTP protocol included), quieter."""
    options = uvicorn_options(app.state.services.config)
    return uvicorn.Config(app, host=host, port=port, log_level="warning", **options)


@contextmanager
def running_service(config: Config, port: int | None = None) -> Iterator[Service]:
    app = create_app(config, generate_key=key_pool())
    port = port or free_port()
    with serving(quiet_config(app, port=port)):
        yield Service(app, port)
