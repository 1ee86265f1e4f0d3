# The only set-up a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run lint test test-fast proto docs clean chromium postgresql

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,ray]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/caffebatch inspect examples/lenet
	$(VENV)/bin/caffebatch convert examples/lenet -o build/lenet.onnx
	rm -rf build/digits-out
	$(VENV)/bin/caffebatch score examples/lenet --input examples/digits/inputs --output build/digits-out --run-id make-run
	$(PY) examples/digits/accuracy.py build/digits-out
	rm -rf build/squares-out
	$(VENV)/bin/caffebatch score examples/squares-ssd --input examples/squares/inputs --output build/squares-out --run-id make-run
	$(PY) examples/squares/show.py build/squares-out

# Debian's Chromium drives the dashboard's browser tests (Playwright never downloads one).
chromium:
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# PostgreSQL's server binaries run the store's tests on PostgreSQL as well as SQLite.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)

# ruff, and mypy with the settings in pyproject.toml (strict on jobs/, compiler/, service/)
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

test: lint chromium postgresql
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

# Regenerate the supported-layers table from the converter registry.
docs: $(STAMP)
	$(PY) -m caffebatch.compiler.support > docs/layers.md

# Regenerate the Python code for our Caffe schema with the pinned compiler.
proto: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	cd src/caffebatch/caffe/proto && ../../../../$(PY) -m grpc_tools.protoc -I. --python_out=. --pyi_out=. caffe.proto

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
