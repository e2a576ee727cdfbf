"""Running the app under uvicorn: uvloop + httptools, no proxy-header rewriting.

httptools runs in a subclass that caps the request line and headers (``server.maxHeaderBytes``):
the gateway may be bypassed, and httptools alone buffers a header of any size. The same
subclass answers ``/authenticate`` requests without a body as soon as their headers are parsed.

One worker serves the app object built here. Several workers (``server.workers``) are separate
processes that each build their own app, so uvicorn gets an import string: ``app_factory``
below, which reads the configuration named by ``MCP_GATEKEEPER_CONFIG``. They share state through
the sqlite or Redis store, and metrics through ``PROMETHEUS_MULTIPROC_DIR``.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from .config import CONFIG_PATH_ENV, Config, load_config
from .config.loader import ENV_PREFIX
from .main import create_app
from .ops.hot_protocol import GatekeeperHttpProtocol
from .ops.logging import configure_logging
from .ops.metrics import MULTIPROC_DIR_ENV

FACTORY = "mcp_gatekeeper.server:app_factory"


def app_factory() -> FastAPI:
    """``uvicorn --factory mcp_gatekeeper.server:app_factory``: one worker's app."""
    config = load_config(None)
    configure_logging(config.server.log_level)
    return create_app(config)


def prepare_metrics_dir() -> Path:
    """The directory where the workers keep their metric values, emptied for this run.

    ``PROMETHEUS_MULTIPROC_DIR`` if set (mount a writable emptyDir there when the root
    filesystem is read-only), else a new directory under ``$TMPDIR``.
    """
    configured = os.environ.get(MULTIPROC_DIR_ENV)
    directory = Path(configured or tempfile.mkdtemp(prefix="mcp-gatekeeper-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    if not os.access(directory, os.W_OK):
        raise SystemExit(f"{MULTIPROC_DIR_ENV}={directory} is not writable")
    # Values left by an earlier run would be added to this run's.
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_DIR_ENV] = str(directory)
    return directory


def exit_cleanly_on_sigterm() -> None:
    """Make a SIGTERM stop end in exit status 0.

    uvicorn handles SIGTERM itself (stop accepting, finish the requests in flight, run the
    lifespan shutdown) and then raises the signal again with the handler that was there before
    it started. With the default handler the process would end "killed by SIGTERM" (143), which
    Kubernetes and systemd report as a failure; with this one it exits 0. Before uvicorn takes
    over, a SIGTERM also just exits.
    """
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))


def uvicorn_options(config: Config) -> dict[str, Any]:
    """How uvicorn runs the app (the benchmarks run it the same way)."""
    return {
        "loop": "auto",
        "http": GatekeeperHttpProtocol,
        # uvicorn's name for the cap, which the protocol above reads.
        "h11_max_incomplete_event_size": config.server.max_header_bytes,
        # Hosts are chosen by proxy.trustedHostHeaders, never by uvicorn's X-Forwarded-* rewrite.
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,
        "log_config": None,
        "timeout_keep_alive": 75,
    }


def serve(config: Config, *, config_path: str | None = None) -> None:
    configure_logging(config.server.log_level)
    options = {"host": config.server.host, "port": config.server.port, **uvicorn_options(config)}
    if config.server.workers > 1 or os.environ.get(MULTIPROC_DIR_ENV):
        prepare_metrics_dir()
    if config.server.workers == 1:
        app = create_app(config)
        exit_cleanly_on_sigterm()
        uvicorn.run(app, workers=1, **options)
        return
    # Each worker process loads the configuration itself: the same file, and the same
    # MCP_GATEKEEPER_* overrides, which it inherits with the rest of the environment, where
    # --host and --port join them.
    os.environ[f"{ENV_PREFIX}SERVER__HOST"] = config.server.host
    os.environ[f"{ENV_PREFIX}SERVER__PORT"] = str(config.server.port)
    if config_path is not None:
        os.environ[CONFIG_PATH_ENV] = str(Path(config_path).resolve())
    elif not os.environ.get(CONFIG_PATH_ENV):
        raise SystemExit(
            f"several workers need the configuration file: --config or ${CONFIG_PATH_ENV}"
        )
    uvicorn.run(FACTORY, factory=True, workers=config.server.workers, **options)
