# The only set-up a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every package at the version the suite passed with: one install, the same on every machine.
LOCK := requirements.lock
# What the lock covers: the extras `make install` puts in .venv.
LOCK_EXTRAS := --extra test --extra ray --extra openvino --extra dev
# The container image's lock: the service with S3 and PostgreSQL, nothing for tests.
SERVE_LOCK := requirements-serve.lock
SERVE_EXTRAS := --extra service --extra s3 --extra postgres
COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --universal \
	--custom-compile-command 'make lock' --quiet
LOCK_COMPILE = $(COMPILE) $(LOCK_EXTRAS)

.PHONY: install lock lock-upgrade run lint test test-fast test-lower-bounds proto docs clean chromium postgresql

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Recompile the lock after a change to pyproject.toml, keeping every pin that still fits.
lock: $(STAMP)
	$(LOCK_COMPILE) -o $(LOCK)
	$(COMPILE) $(SERVE_EXTRAS) -o $(SERVE_LOCK)

# Move every pin to the newest release its range allows (then run `make test`).
lock-upgrade: $(STAMP)
	$(LOCK_COMPILE) --upgrade -o $(LOCK)
	$(COMPILE) $(SERVE_EXTRAS) -o $(SERVE_LOCK)

# The fast suite in .venv-lower, with numpy, protobuf, onnxruntime and botocore at the lower
# bounds pyproject.toml claims (requirements-lower.txt) and everything else as locked.
test-lower-bounds: $(STAMP)
	mkdir -p build
	$(LOCK_COMPILE) --override requirements-lower.txt -o build/lower.lock
	$(VENV)/bin/uv venv --python $(PYTHON) --allow-existing .venv-lower
	$(VENV)/bin/uv pip install --python .venv-lower/bin/python -r build/lower.lock
	$(VENV)/bin/uv pip install --python .venv-lower/bin/python --no-deps -e .
	.venv-lower/bin/python -m pytest -q -m "not slow" -p no:cacheprovider

run: $(STAMP)
	$(VENV)/bin/caffebatch inspect examples/lenet
	$(VENV)/bin/caffebatch convert examples/lenet -o build/lenet.onnx
	rm -rf build/digits-out
	$(VENV)/bin/caffebatch score examples/lenet --input examples/digits/inputs --output build/digits-out --run-id make-run
	$(PY) examples/digits/accuracy.py build/digits-out
	rm -rf build/digit-images-out
	$(VENV)/bin/caffebatch score examples/lenet --input examples/digits/images --output build/digit-images-out --run-id make-run
	$(PY) examples/digits/accuracy.py build/digit-images-out .png
	rm -rf build/squares-out
	$(VENV)/bin/caffebatch score examples/squares-ssd --input examples/squares/inputs --output build/squares-out --run-id make-run
	$(PY) examples/squares/show.py build/squares-out

# Debian's Chromium drives the dashboard's browser tests (Playwright never downloads one).
chromium:
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# PostgreSQL's server binaries run the store's tests on PostgreSQL as well as SQLite.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)

# ruff, and mypy with the settings in pyproject.toml (strict, on the whole package)
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

# Regenerate the Python code for our Caffe schema with the pinned compiler (in the lock's dev extra).
proto: $(STAMP)
	cd src/caffebatch/caffe/proto && ../../../../$(PY) -m grpc_tools.protoc -I. --python_out=. --pyi_out=. caffe.proto

clean:
	rm -rf $(VENV) .venv-lower build .pytest_cache .mypy_cache .ruff_cache
