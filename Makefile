# Casewatch — `make help` lists the targets.
.DEFAULT_GOAL := help
CARGO ?= cargo
# A pipeline fails when any command in it fails (`bench | tee`).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

.PHONY: cargo-mutants help run demo serve test test-e2e fuzz bench bench-quick mutants mutants-diff lint fmt ci

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## the demo: a node on an accelerated clock with a simulated city pushing into it
	$(CARGO) run --release -p casewatch -- demo

demo: run ## the same as `make run`

serve: ## run every role on this machine (data in ./casewatch-data, gRPC on 127.0.0.1:50051)
	$(CARGO) run --release -p casewatch -- serve

# Every test skipped for lack of something (PostgreSQL, root for mounts) adds a line here;
# `make test` and `make test-e2e` list them at the end, passed or failed.
SKIPPED := $(CURDIR)/target/skipped-tests.txt
# Runs a test command, then lists the skipped tests; exits with the command's status.
define with_skips
	@mkdir -p $(dir $(SKIPPED)) && rm -f $(SKIPPED)
	status=0; CASEWATCH_SKIPPED=$(SKIPPED) $(1) || status=$$?; \
	if [ -s $(SKIPPED) ]; then echo "skipped tests ($$(wc -l < $(SKIPPED))):"; sed 's/^/  /' $(SKIPPED); \
	else echo "skipped tests: none"; fi; exit $$status
endef

test: ## run every test suite of the workspace, with every feature (the bench's suite too)
	$(call with_skips,$(CARGO) test --workspace --all-targets --all-features --locked)

test-e2e: ## the roles as processes on Kafka (a tansu broker) and PostgreSQL; needs both
	$(call with_skips,CASEWATCH_REQUIRE_POSTGRES=1 $(CARGO) test -p casewatch --all-features --test end_to_end --locked -- --ignored --test-threads=1 e2e::)

# Cases of the long fuzz runs; `make fuzz FUZZ_PROJECTOR_CASES=20000` for a longer one.
FUZZ_BYTES_CASES ?= 200000
FUZZ_PROJECTOR_CASES ?= 10000

fuzz: ## the long property runs in release: hostile bytes at the edge, adversarial sequences for the projector (a few minutes)
	PROPTEST_CASES=$(FUZZ_BYTES_CASES) $(CARGO) test --release --locked -p casewatch-proto --test proto hostile_bytes::
	PROPTEST_CASES=$(FUZZ_PROJECTOR_CASES) $(CARGO) test --release --locked -p casewatch-projector --test projector adversarial::

bench-quick: ## the benchmark's smoke run (under a minute); JSON lines in target/bench/quick.jsonl
	@mkdir -p target/bench
	$(CARGO) run --release -p casewatch --features bench -- bench --quick | tee target/bench/quick.txt
	@grep '^{' target/bench/quick.txt > target/bench/quick.jsonl

bench: bench-quick ## the quick run, then the full benchmark (BENCHMARKS.md); JSON lines in target/bench/full.jsonl
	$(CARGO) run --release -p casewatch --features bench -- bench | tee target/bench/full.txt
	@grep '^{' target/bench/full.txt > target/bench/full.jsonl

# cargo-mutants, installed by `make mutants` when missing; .cargo/mutants.toml names the files.
MUTANTS_VERSION := 27.1.0
MUTANTS := CARGO_PROFILE_DEV_DEBUG=0 $(CARGO) mutants --all-features
# The commit `make mutants-diff` compares with.
BASE ?= HEAD~1

cargo-mutants:
	@command -v cargo-mutants >/dev/null || $(CARGO) install cargo-mutants --locked --version $(MUTANTS_VERSION)

mutants: cargo-mutants ## mutation testing of the rules, clock, calendar, statistics, alert lifecycle, hash chain and verify (hours; MUTANTS.md); results in mutants.out/
	$(MUTANTS)

mutants-diff: cargo-mutants ## the same, for the mutants in the lines changed since BASE (default HEAD~1)
	@mkdir -p target
	git diff $(BASE) > target/mutants.diff
	$(MUTANTS) --in-diff target/mutants.diff

lint: ## clippy (every feature) with warnings as errors, and the formatting check
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

ci: lint test test-e2e ## what CI runs (.ci/run also installs and starts what these need)
