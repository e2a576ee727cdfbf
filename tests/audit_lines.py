"""The audit stream as the service writes it (JSON lines), and the schema it is documented by."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import jsonschema

from mcp_gatekeeper.ops.logging import JsonFormatter


def audit_schema() -> dict[str, Any]:
    """The schema shipped in the package (``ops/audit_schema.json``), as a SIEM would load it."""
    text = resources.files("mcp_gatekeeper.ops").joinpath("audit_schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_errors(line: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(audit_schema())
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(line)]


@contextmanager
def audit_lines() -> Iterator[list[dict[str, Any]]]:
    """Every audit event raised in the block, formatted as the service's log handler does."""
    lines: list[dict[str, Any]] = []
    formatter = JsonFormatter()

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(formatter.format(record)))

    handler = Capture()
    logger = logging.getLogger("mcp_gatekeeper.audit")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
