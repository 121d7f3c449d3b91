# The two commands a newcomer needs: `make run` (set up + main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
SAMPLE := tests/fixtures/c2pa/adobe-20220124-CA.jpg
SAMPLE_TRUST := tests/fixtures/c2pa/test_cert_root_bundle.pem

.PHONY: run verify-sample test lint bench clean models

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Serving weight: no torch.
$(VENV)/.serve: $(BIN)/python pyproject.toml
	$(PIP) install -q -e .
	@touch $@

# Tests need the training weight too (torch, torchvision, timm: CUDA builds from the
# registry, ~5.5 GB, they run on CPU) and the bias-report extra (fairlearn, matplotlib).
$(VENV)/.dev: $(VENV)/.serve
	$(PIP) install -q -e '.[dev,train,bias]'
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

# The shipped models, trained by the project's own commands on the built-in real photos:
# three generators, a labelled and signed data set from them, and the default detector.
# `make models` on a 2-core CPU takes about 40 minutes with these step counts; raise them
# (or run on a GPU: --device auto picks it) for better generators.
GAN_STEPS ?= 800
VAE_STEPS ?= 1000
DIFFUSION_STEPS ?= 600
FAKES_PER_FAMILY ?= 400
REAL_CROPS ?= 1200
WEIGHTS := generators/weights
DETECTOR := detectors/weights/default
MODEL_DATA := build/model-data

models: $(VENV)/.dev
	$(BIN)/provaudit generators train gan --builtin --size 32 --steps $(GAN_STEPS) --batch 64 \
		--sample-every $(GAN_STEPS) --out $(WEIGHTS)/gan --no-progress
	$(BIN)/provaudit generators train vae --builtin --size 32 --steps $(VAE_STEPS) --batch 64 \
		--sample-every $(VAE_STEPS) --out $(WEIGHTS)/vae --no-progress
	$(BIN)/provaudit generators train diffusion --builtin --size 32 --steps $(DIFFUSION_STEPS) \
		--batch 32 --preset compact --sample-every $(DIFFUSION_STEPS) --out $(WEIGHTS)/diffusion \
		--no-progress
	for family in gan vae diffusion; do \
		$(BIN)/provaudit generators export-onnx $(WEIGHTS)/$$family || exit 1; \
		$(BIN)/provaudit generators evaluate $(WEIGHTS)/$$family --builtin -n 300 \
			--sampling-steps 25 > $(WEIGHTS)/$$family/evaluation.json || exit 1; \
	done
	rm -rf $(MODEL_DATA)
	for family in gan vae diffusion; do \
		$(BIN)/provaudit generate -c $(WEIGHTS)/$$family -n $(FAKES_PER_FAMILY) \
			-o $(MODEL_DATA) --sampling-steps 25 || exit 1; \
	done
	$(BIN)/provaudit generators export-real --builtin -n $(REAL_CROPS) --size 32 -o $(MODEL_DATA)
	$(BIN)/provaudit detectors train --dataset $(MODEL_DATA) --image-size 32 --epochs 12 \
		--out $(DETECTOR) --quiet --json > build/detector-train.json
	$(BIN)/provaudit detectors export-onnx $(DETECTOR)
	$(BIN)/provaudit detectors evaluate $(DETECTOR) --dataset $(MODEL_DATA) --robustness \
		--format-check --json > $(DETECTOR)/evaluation.json
	$(BIN)/provaudit detectors loo --dataset $(MODEL_DATA) --image-size 32 --epochs 6 \
		--out build/loo --json > $(DETECTOR)/leave-one-family-out.json
