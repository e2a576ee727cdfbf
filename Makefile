.DEFAULT_GOAL := help
.PHONY: help run test check bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: ## Demo: Traefik on 127.0.0.1:8080, mcp-gatekeeper and an example MCP server
	scripts/run.sh

test: ## Install test dependencies, then ruff, mypy --strict and the whole pytest suite
	scripts/test.sh

check: ## ruff and mypy only
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy app tests bench scripts examples

bench: ## /authenticate benchmark (ratios against the same server's /healthz)
	.venv/bin/python bench/authenticate.py
