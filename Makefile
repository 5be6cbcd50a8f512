# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := prometheus wrk chromium openjdk-17-jre-headless podman debootstrap

.PHONY: install system-deps bench-deps demo test lint typecheck unit unit-fast bench clean image

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,llm,spark,clarify]'
	touch $@

install: $(STAMP)

# Real binaries the tests and benchmarks run: Prometheus (promtool too), wrk, Chromium (the
# report.html tests open the pages in it, headless, with the network cut) and a Java runtime for
# the Spark engine (--engine spark). podman and debootstrap build the container image where no
# Docker daemon answers (tests/deploy/test_image.py, `make image`).
system-deps:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v wrk >/dev/null \
	  && command -v chromium >/dev/null && command -v java >/dev/null \
	  && command -v podman >/dev/null && test -x /usr/sbin/debootstrap || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); }

demo: $(STAMP)
	$(PY) examples/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check sidecar analyzer tests bench examples
	$(VENV)/bin/ruff format --check sidecar analyzer tests bench examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP) system-deps
	$(PY) -m pytest -q -p no:cacheprovider

# The tests that start no server, browser, Spark session or whole command (marker `unit`, given
# by tests/conftest.py): a change checked in about a minute. `make test` still runs everything.
unit-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m unit

test: lint typecheck unit

# Benchmarks only (not `make test`): nginx-light is bench/cpu_cost.py's reference proxy (it runs
# on a generated config in a temp dir, never the system's); perf and py-spy (into the venv)
# sample the proxies for bench/profile_sidecar.py and bench/perf_split.py.
BENCH_PACKAGES := nginx-light linux-perf
bench-deps: $(STAMP)
	@{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null && command -v perf >/dev/null || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(BENCH_PACKAGES); }
	@test -x $(VENV)/bin/py-spy || $(PY) -m pip install -q py-spy

bench: $(STAMP) system-deps bench-deps
	$(PY) bench/run_all.py

# The container image, tagged infertap:VERSION as the manifests in deploy/ name it: docker when a
# daemon answers, else podman (with a local Debian base when python:3.11-slim cannot be pulled).
image:
	deploy/build-image.sh

clean:
	rm -rf $(VENV) demo-output bench/results
