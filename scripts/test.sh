#!/usr/bin/env bash
# The whole check: install what the tests need, lint, type-check, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy app tests bench scripts examples
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-3}" "$@"
