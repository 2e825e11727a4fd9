# Casewatch — `make help` lists the targets.
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help run test lint fmt check-fmt ci

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## run Casewatch on the embedded default (no external services)
	$(CARGO) run --release -p casewatch -- demo

test: ## run every test suite of the workspace
	$(CARGO) test --workspace --all-targets --locked

lint: ## clippy with warnings as errors, and the formatting check
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

ci: lint test ## what CI runs
