# The two commands a newcomer needs: `make run` (set up + main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
SAMPLE := tests/fixtures/c2pa/adobe-20220124-CA.jpg
SAMPLE_TRUST := tests/fixtures/c2pa/test_cert_root_bundle.pem

.PHONY: run verify-sample test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Serving weight: no torch.
$(VENV)/.serve: $(BIN)/python pyproject.toml
	$(PIP) install -q -e .
	@touch $@

# Tests need the training weight too (torch, torchvision, timm: CUDA builds from the
# registry, ~5.5 GB, they run on CPU).
$(VENV)/.dev: $(VENV)/.serve
	$(PIP) install -q -e '.[dev,train]'
	@touch $@

# The main job: the moderation service on the embedded default (SQLite file, development
# signing identity created on first start), at http://127.0.0.1:8000 (API docs at /docs).
run: $(VENV)/.serve
	$(BIN)/provaudit serve --host 127.0.0.1 --port 8000

verify-sample: $(VENV)/.serve
	$(BIN)/provaudit verify $(SAMPLE) --trust $(SAMPLE_TRUST) --tree

test: $(VENV)/.dev
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.dev
	$(BIN)/python bench/provenance_bench.py
	$(BIN)/python bench/detector_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
