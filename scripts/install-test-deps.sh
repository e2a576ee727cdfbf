#!/usr/bin/env bash
# Installs what the tests run for real: nginx (ingress-nginx stand-in), wrk and hey (benchmarks),
# promtool (metrics lint), node + npm with the OpenID provider the provider tests log in at
# (npm oidc-provider, pinned by tests/e2e/oidc/package-lock.json). Envoy, Traefik, Caddy and the
# MCP SDK come as wheels with the project's [test] extra. As root, Debian packages are installed;
# otherwise missing ones are named.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A package_of=([nginx]=nginx [wrk]=wrk [hey]=hey [promtool]=prometheus [node]=nodejs [npm]=npm)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${package_of[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The real OpenID provider of tests/providers (exact versions from the lock file).
npm ci --prefix tests/e2e/oidc --no-audit --no-fund --loglevel=error
scripts/bootstrap-venv.sh test
