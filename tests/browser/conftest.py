"""A real headless Chromium (Debian's, driven by Python Playwright) for the browser tests.

``playwright install`` is never run: it downloads a browser build, which this project cannot
fetch; the system Chromium from ``scripts/install-test-deps.sh`` is launched instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

INSTALL_HINT = "run scripts/install-test-deps.sh (Debian chromium, and playwright from [test])"
ROOT = Path(__file__).resolve().parents[2]
#: Screenshots a person can look at after the run (git-ignored).
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Both MCP hosts of the tests are loopback names; never ask a resolver (or try ::1).
    "--host-resolver-rules=MAP localhost 127.0.0.1",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium", path="/usr/bin:/usr/lib/chromium")
    if found is None:
        pytest.fail(f"Chromium is not installed: {INSTALL_HINT}")
    return found


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium per module; each test opens its own context.

    Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    while it is started, which would break every asyncio test that runs after it.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"Python playwright is not installed: {INSTALL_HINT}")
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh profile (no cookies) at a desktop size."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
