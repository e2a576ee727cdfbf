#!/usr/bin/env bash
# The demo: Traefik on 127.0.0.1:8080 (DEMO_PORT, or --port N; 0 = a free port) in front of the
# example notes MCP server, with mcp-gatekeeper (config/demo.yaml, demo login) as its forward-auth
# service. Installs the [demo] extra (the MCP SDK and Traefik) first. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap-venv.sh demo
exec .venv/bin/python scripts/demo.py "$@"
