# Casewatch — `make help` lists the targets.
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help run demo serve test lint fmt ci

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## the demo: a node on an accelerated clock with a simulated city pushing into it
	$(CARGO) run --release -p casewatch -- demo

demo: run ## the same as `make run`

serve: ## run every role on this machine (data in ./casewatch-data, gRPC on 127.0.0.1:50051)
	$(CARGO) run --release -p casewatch -- serve

test: ## run every test suite of the workspace
	$(CARGO) test --workspace --all-targets --locked

lint: ## clippy with warnings as errors, and the formatting check
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

ci: lint test ## what CI runs
