#!/usr/bin/env bash
# Creates .venv (once) and installs mcp-gatekeeper into it: `bootstrap-venv.sh` for the service,
# `bootstrap-venv.sh test` for the service plus everything the tests need. Versions come from
# constraints.txt (scripts/update-constraints.sh), the same ones the container image installs.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "mcp-gatekeeper needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.deps-${extra:-run}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # Editable: app/ goes on the path, so the package imported is the source being edited.
  .venv/bin/python -m pip install -q -c constraints.txt -e ".${extra:+[$extra]}"
  touch "$stamp"
fi
