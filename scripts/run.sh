#!/usr/bin/env bash
# Starts mcp-gatekeeper on loopback with the demo configuration (or $MCP_GATEKEEPER_CONFIG).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap-venv.sh
exec .venv/bin/mcp-gatekeeper serve --config "${MCP_GATEKEEPER_CONFIG:-config/demo.yaml}" "$@"
