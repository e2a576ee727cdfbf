"""Running the app under uvicorn: one process, uvloop + httptools, no proxy-header rewriting."""

from __future__ import annotations

import uvicorn

from .config import Config
from .main import create_app
from .ops.logging import configure_logging


def serve(config: Config, *, host: str | None = None, port: int | None = None) -> None:
    configure_logging(config.server.log_level)
    app = create_app(config)
    uvicorn.run(
        app,
        host=host or config.server.host,
        port=port if port is not None else config.server.port,
        # The in-memory store is per process: exactly one worker (see the start-up warning).
        workers=1,
        loop="auto",
        http="auto",
        # Hosts are chosen by proxy.trustedHostHeaders, never by uvicorn's X-Forwarded-* rewrite.
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_config=None,
        timeout_keep_alive=75,
    )
