# `make` lists the targets. `make demo` and `make test` set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The tests not marked `timing` may run on pytest-xdist workers (`make test WORKERS=2`: a file's tests
# stay on one worker); the ones marked `timing` (tight tolerances on measured times) always run alone,
# after the rest. Default 0 (no workers): on this 2-core machine two workers brought the first pass to
# ≈ 16 minutes, but tests sharing the CPU flaked (a median, a p-value, a time-out).
# The first pass prints its 15 slowest tests, to keep the suite's time in sight.
WORKERS ?= 0
# setuptools tells every editable install, as a warning, to beware of folders named like the package
# ("BuildBackendWarning: Editable installation"): information only, and a page of it before the demo.
PIP_QUIET := PYTHONWARNINGS="ignore:Editable installation"

.DEFAULT_GOAL := help
.PHONY: help setup browser perf docker servers laravel images demo check test lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(PIP_QUIET) $(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) browser ## create .venv, install uxchaos and a Chromium if missing

browser: $(STAMP)
	@scripts/ensure-browser.sh $(BIN)/python

perf: ## install Debian's linux-perf when missing (for benchmarks/critical_path.py)
	@scripts/ensure-perf.sh

docker: ## install/start Docker and a single-node swarm (for the Docker tests)
	@scripts/ensure-docker.sh

servers: ## install MariaDB, Redis and socat when missing (the proxy's protocol tests start their own)
	@scripts/ensure-servers.sh

laravel: servers ## install PHP 8.2 and Laravel 8 (Debian's php-laravel-framework) when missing, for the Laravel demo
	@scripts/ensure-laravel.sh

images: setup docker ## build the demo's Docker images for the Swarm stack (mmdebstrap; cached by their inputs)
	$(BIN)/uxchaos demo build

demo: setup ## run `uxchaos run login-under-db-delay` on the bundled demo app
	$(BIN)/uxchaos run login-under-db-delay

# `make check` runs the tests marked neither `browser` nor `docker` (nor `slow`, nor `timing`) on two
# workers, with neither a browser nor Docker reachable: a test that needs one but is not marked fails
# with a name that says so (tests/conftest.py). `make test` runs everything.
check: $(STAMP) ## the quick check: ruff, mypy and the tests that need no Docker and no browser
	$(BIN)/ruff check uxchaos tests benchmarks examples
	$(BIN)/mypy
	UXCHAOS_CHECK=1 $(BIN)/pytest -q -n 2 --dist loadfile -m "not browser and not docker and not slow and not timing" \
		--durations=10

test: setup docker servers laravel images ## run the linters, the type checker and every test (real browser, databases, PHP, Docker, Swarm)
	$(BIN)/ruff check uxchaos tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile -m "not timing" --durations=15
	$(BIN)/pytest -q -m timing

lint: $(STAMP) ## ruff and mypy only
	$(BIN)/ruff check uxchaos tests benchmarks examples
	$(BIN)/mypy

bench: setup servers ## print the benchmarks' figures
	$(BIN)/python benchmarks/proxy_bench.py --reference socat,haproxy
	$(BIN)/python benchmarks/timing_overhead.py
	$(BIN)/python benchmarks/trace_cost.py

clean: ## remove the virtualenv and generated reports
	rm -rf $(VENV) reports/*/ .pytest_cache .ruff_cache
