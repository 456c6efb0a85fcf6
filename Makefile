# Ironpost developer entry points. `make run` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
CONFIG ?= packaging/ironpost.local.toml

.PHONY: deps deps-all venv build run test test-fast bench binary smoke clean

deps:            ## Debian build dependencies (libhyperscan-dev)
	bash packaging/install-deps.sh --build-only

deps-all: deps venv   ## everything the tests use: bcc + kernel headers, docker.io, nftables; bcc made importable in the venv
	bash packaging/install-deps.sh
	if [ -f packaging/setup-bcc.sh ]; then bash packaging/setup-bcc.sh $(PY); fi

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip setuptools wheel "cython>=3.0,<4"
	$(PIP) install -q --no-build-isolation -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

build: deps venv ## compile ext/*.pyx into ironpost/_ext
	$(PY) setup.py -q build_ext --inplace

run: build       ## build and run the daemon with the local config (SQLite, no root needed)
	$(PY) -m ironpost daemon --config $(CONFIG)

test: deps-all build  ## the full suite: unit, real-part tests, and benchmarks compared with bench/baseline.json
	$(PY) -m pytest tests
	bash bench/run.sh

test-fast: build
	$(PY) -m pytest tests -x -q -m "not slow"

bench: build
	bash bench/run.sh

binary: build    ## one executable in dist/ironpost
	$(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN packaging/ironpost.spec

smoke: binary
	bash packaging/smoke.sh dist/ironpost

clean:
	rm -rf build dist ironpost/_ext/*.so ext/*.c .pytest_cache
