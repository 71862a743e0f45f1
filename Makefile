# warcflow: the two commands a new machine needs are `make run` and `make test`.
# Everything missing is installed on the way: Debian packages (ffmpeg, kcat, chromium,
# the compilers and headers vpdq and pdqhash are built with), a virtualenv with the
# Python packages, the Kafka jars and the S3 server.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
# make test runs the test files on TEST_PROCESSES processes (pytest-xdist, each its own Kafka
# and S3; 0: one process, no xdist), then the tests marked `alone` — deadline-bound, they
# would be starved by a second process's load — on one (docs/decisions/0020)
TEST_PROCESSES ?= 2
PYTEST_ARGS ?=
SOAK_ARGS ?= --submissions 1000 --kills 20

.PHONY: run test check bench soak down status install system-deps services-install test-tools clean help

help:
	@echo "make run    install what is missing, start Kafka, S3, the worker and the viewer, say where to look"
	@echo "make check  lint and format (ruff), types (mypy), the layout's import contracts (import-linter)"
	@echo "make test   make check, then the full test suite (unit, integration on real Kafka and S3, browser)"
	@echo "make bench  benchmarks against peer tools, ratios printed, JSON in benchmarks/results/"
	@echo "make soak   the short soak test, then the fault soak: 1,000 submissions and hostile messages,"
	@echo "            20 worker kills, a broker and an S3 outage, a viewer; every outcome checked"
	@echo "            (SOAK_ARGS='--submissions 200')"
	@echo "make down   stop what 'make run' started"

# system-deps first: vpdq and pdqhash are built from source against Debian's FFmpeg headers
$(STAMP): | system-deps
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else "warcflow needs Python 3.11 or 3.12 (pywb does not support 3.13 yet)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,check]'
	@rm -f $(VENV)/.installed-*
	@touch $@

system-deps:
	@PYTHON=$(PYTHON) infra/system-deps.sh

services-install: $(STAMP)
	@$(BIN)/warcflow install

install: system-deps $(STAMP) services-install

run: install
	$(BIN)/warcflow up --agents

down:
	@if [ -x $(BIN)/warcflow ]; then $(BIN)/warcflow down; fi

status: $(STAMP)
	@$(BIN)/warcflow status

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# the tools the tests check warcflow's output with: ReplayWeb.page (npm), the JWAT and
# gowarc WARC validators (Maven Central, Go proxy); pinned, once per machine, in the cache
test-tools: $(STAMP)
	@$(BIN)/python -m tests.support.tools

test: install check test-tools
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile -m "not alone and not soak" --durations=20 $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m alone --durations=5 $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: PYTEST_ARGS chose none of them

bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

soak: install test-tools
	$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)
	$(BIN)/python -m tests.support.soak $(SOAK_ARGS)

clean: down
	rm -rf $(VENV) .warcflow
