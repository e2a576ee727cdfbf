"""The wheel users install: the right import name, the templates, the console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_mcp_gatekeeper_with_templates_and_no_generic_app(tmp_path: Path) -> None:
    """`pip install .` gets the package `mcp_gatekeeper` (never `app`) and its Jinja templates."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("mcp_gatekeeper-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mcp_gatekeeper/templates/error.html" in names
    assert "mcp_gatekeeper/py.typed" in names
    assert not [name for name in names if name.startswith("app/")]
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mcp-gatekeeper = mcp_gatekeeper.cli:main" in text
