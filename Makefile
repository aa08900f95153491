# Stockade — one Makefile for a fresh Debian 12 machine (run as root) and for developers.
# `make test` and `make demo` install everything they need: apt packages, then a virtualenv
# built from requirements.lock (hash-checked).

SHELL := /bin/bash
PYTHON_SYS ?= /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp
export STOCKADE_TEST_HOME ?= $(CURDIR)/.stockade-test

APT_PACKAGES := python3 python3-venv python3-dev git ca-certificates crun runc bubblewrap umoci \
	skopeo mmdebstrap uidmap iproute2 procps keyutils libseccomp2 util-linux curl \
	golang-github-opencontainers-specs-dev

.PHONY: deps venv test test-fast lint typecheck bench demo lock image clean

# System packages. Needs root on a fresh machine; a non-root developer installs them once by hand.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing apt packages (install as root): $$missing"; exit 1; fi; \
	fi

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: deps $(STAMP)

lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports

typecheck: venv
	$(VENV)/bin/mypy

# The default runner image, built once into the test store (cached by its recipe).
image: venv
	STOCKADE_HOME=$(STOCKADE_TEST_HOME) $(VENV)/bin/stockade image build

test: venv lint typecheck image
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

bench: venv image
	STOCKADE_HOME=$(STOCKADE_TEST_HOME) $(PY) bench/run.py

demo: venv
	bash examples/demo.sh

lock:
	$(PYTHON_SYS) -m venv /tmp/stockade-lock-venv && /tmp/stockade-lock-venv/bin/pip install -q uv
	/tmp/stockade-lock-venv/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu -o requirements.lock

clean:
	rm -rf $(VENV) .stockade-test .pytest_cache .mypy_cache .ruff_cache
