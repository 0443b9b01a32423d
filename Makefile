# Thin wrapper over CMake. `make run` and `make test` are the two set-up commands.
BUILD      ?= build
REL_BUILD  ?= build-release
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG     ?= config/examples/quickstart.yaml
PREFIX     ?= /usr/local
RUN_TYPE   ?= RelWithDebInfo

# No "Entering directory" lines from the makes CMake runs.
MAKEFLAGS += --no-print-directory

.PHONY: all deps build install run test test-fast fuzz bench bench-webhook bench-dlq bench-redis bench-kafka bench-pg bench-pg-cdc docs fmt clean

all: build

deps:
	@bash scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# sluice, sluice-fn, the docs, the example configs and the systemd unit under $(PREFIX)
# (DESTDIR=... stages them elsewhere, as cmake --install does).
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

# Runs sluice with the quickstart config and the demo function (no external server). Installs
# what building and running need, builds the two binaries quietly (the build's output only if
# it fails), then prints only what sluice and the demo function print.
run:
	@bash scripts/install-deps run
	@BUILD=$(BUILD) BUILD_TYPE=$(RUN_TYPE) JOBS=$(JOBS) bash scripts/build-quiet sluice sluice-fn
	@CONFIG=$(CONFIG) BUILD=$(BUILD) bash scripts/run-quickstart

# The whole suite: unit, integration, end-to-end and fuzz replays on a Release build (in
# $(REL_BUILD), two tests per core at once), then again under ASan+UBSan. `run` and `bench` keep
# their RelWithDebInfo build in $(BUILD).
test:
	@bash scripts/install-deps test
	@REL_BUILD=$(REL_BUILD) ASAN_BUILD=$(ASAN_BUILD) JOBS=$(JOBS) bash scripts/test

# One build, no sanitizer pass (for a quick local loop).
test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# libFuzzer (clang) on every tests/fuzz harness for FUZZ_SECONDS each, from a scratch copy of its
# corpus under $(FUZZ_BUILD)/fuzz-run; one table of executions, non-zero on any crash.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60

fuzz: deps
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) bash tests/fuzz/run-fuzzers

# Benchmarks print ratios against raw baselines measured in the same run (bench/), then one
# table of every row (bench/RESULTS.md keeps the latest, with the machine).
ROWS = $(abspath $(BUILD))/bench-rows.jsonl
# The PostgreSQL benchmark uses psycopg2, which install-deps installs for Debian's interpreter.
PG_PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)

bench: build
	@rm -f $(ROWS)
	@SLUICE_BENCH_ROWS=$(ROWS) python3 bench/webhook.py --build $(BUILD)
	@SLUICE_BENCH_ROWS=$(ROWS) python3 bench/dlq_admin.py --build $(BUILD)
	@SLUICE_BENCH_ROWS=$(ROWS) python3 bench/redis.py --build $(BUILD)
	@SLUICE_BENCH_ROWS=$(ROWS) python3 bench/kafka.py --build $(BUILD)
	@SLUICE_BENCH_ROWS=$(ROWS) $(PG_PYTHON) bench/pg_queue.py --build $(BUILD)
	@SLUICE_BENCH_ROWS=$(ROWS) $(PG_PYTHON) bench/pg_cdc.py --build $(BUILD)
	@python3 bench/table.py $(ROWS)

bench-webhook: build
	@python3 bench/webhook.py --build $(BUILD)

bench-dlq: build
	@python3 bench/dlq_admin.py --build $(BUILD)

bench-redis: build
	@python3 bench/redis.py --build $(BUILD)

bench-kafka: build
	@python3 bench/kafka.py --build $(BUILD)

bench-pg: build
	@$(PG_PYTHON) bench/pg_queue.py --build $(BUILD)

bench-pg-cdc: build
	@$(PG_PYTHON) bench/pg_cdc.py --build $(BUILD)

docs: build
	@$(BUILD)/cli/sluice config docs > docs/CONFIGURATION.md

fmt:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(REL_BUILD) $(ASAN_BUILD)
