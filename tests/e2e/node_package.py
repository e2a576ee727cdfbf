"""A Node.js package the tests run, installed from its lock file by scripts/install-test-deps.sh."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def installed_package(
    directory: Path, package: str, hint: str, error: type[Exception]
) -> tuple[str, Path]:
    """``node`` and the directory of ``package`` as ``directory/package.json`` pins it.

    ``error`` (with ``hint``) when node or the pinned version is missing: a test whose component
    is missing fails, it never skips.
    """
    node = shutil.which("node")
    if node is None:
        raise error(f"node is not installed: {hint}")
    pinned = json.loads((directory / "package.json").read_text())["dependencies"][package]
    installed = directory / "node_modules" / package / "package.json"
    if not installed.is_file():
        raise error(f"{directory.name}/node_modules/{package} is missing: {hint}")
    version = json.loads(installed.read_text()).get("version")
    if version != pinned:
        raise error(f"{package} {version} is installed, not {pinned}: {hint}")
    return node, installed.parent
