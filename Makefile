# The two commands a newcomer needs: `make run` (set up + main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
SAMPLE := tests/fixtures/c2pa/adobe-20220124-CA.jpg
SAMPLE_TRUST := tests/fixtures/c2pa/test_cert_root_bundle.pem

.PHONY: run verify-sample test lint bench clean models generator-models detector-model corpus

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Serving weight: no torch.
$(VENV)/.serve: $(BIN)/python pyproject.toml
	$(PIP) install -q -e .
	@touch $@

# Tests need the training weight too (torch, torchvision, timm: CUDA builds from the
# registry, ~5.5 GB, they run on CPU), the bias-report extra (fairlearn, matplotlib) and
# Ray Data (~80 MB), whose test runs `bias-report --engine ray` on a local Ray.
$(VENV)/.dev: $(VENV)/.serve
	$(PIP) install -q -e '.[dev,train,bias,ray]'
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
# three generators (`make generator-models`), a labelled and signed data set from them, and
# the default detector. Each generator's MODEL_CARD.md is written from its run's records.
# On a 2-core CPU the generators take about two hours with these step counts; a GPU
# (--device auto picks it) takes minutes.
GAN_STEPS ?= 3000
VAE_STEPS ?= 1000
DIFFUSION_STEPS ?= 4000
FAKES_PER_FAMILY ?= 2500
REAL_CROPS ?= 7500
DETECTOR_EPOCHS ?= 8
LOO_EPOCHS ?= 6
HARDWARE ?= a 2-core x86-64 CPU (Intel Xeon)
WEIGHTS := generators/weights
DETECTOR := detectors/weights/default
MODEL_DATA := build/model-data
TRAIN_gan = provaudit generators train gan --builtin --size 32 --steps $(GAN_STEPS) --batch 64 \
	--sample-every 1000 --out $(WEIGHTS)/gan
TRAIN_vae = provaudit generators train vae --builtin --size 32 --steps $(VAE_STEPS) --batch 64 \
	--sample-every 1000 --out $(WEIGHTS)/vae
TRAIN_diffusion = provaudit generators train diffusion --builtin --size 32 \
	--steps $(DIFFUSION_STEPS) --batch 32 --preset compact --sample-every 1000 \
	--out $(WEIGHTS)/diffusion
EVALUATE_GENERATOR = provaudit generators evaluate --builtin -n 300 --sampling-steps 25

generator-models: $(VENV)/.dev
	mkdir -p build
	for family in gan vae diffusion; do \
		case $$family in \
			gan) train="$(TRAIN_gan)";; vae) train="$(TRAIN_vae)";; \
			diffusion) train="$(TRAIN_diffusion)";; \
		esac; \
		rm -rf $(WEIGHTS)/$$family; \
		$(BIN)/$$train --no-progress > build/$$family-train.json || exit 1; \
		$(BIN)/provaudit generators export-onnx $(WEIGHTS)/$$family || exit 1; \
		$(BIN)/$(EVALUATE_GENERATOR) $(WEIGHTS)/$$family > $(WEIGHTS)/$$family/evaluation.json \
			|| exit 1; \
		$(BIN)/provaudit generators model-card $(WEIGHTS)/$$family --command "$$train" \
			--hardware "$(HARDWARE)" --train-log build/$$family-train.json \
			--evaluate-command "$(EVALUATE_GENERATOR) $(WEIGHTS)/$$family" || exit 1; \
	done

models: generator-models
	$(MAKE) detector-model

# A real-photo corpus (and a smaller human-made artwork one) with licences and versions,
# from Debian packages: apt-get download and dpkg -x into build/deb-cache, nothing installed.
# Needs apt-get and dpkg (a Debian-based system) and current package lists (apt-get update).
corpus: $(VENV)/.dev
	$(BIN)/provaudit generators export-corpus --out build/corpus

# The default detector from the shipped generators' output and the built-in photos.
# Two npr_tiny experts trained apart, max-fused: `npr_raw` (holds up under recompression)
# and `chroma` (generalises to families left out of training); see detectors/fusion.py.
DETECTOR_RECIPE = --image-size 32 --arch npr_tiny --transform npr_raw --transform chroma \
	--same-codec mixed
TRAIN_DETECTOR = provaudit detectors train --dataset $(MODEL_DATA) $(DETECTOR_RECIPE) \
	--epochs $(DETECTOR_EPOCHS) --out $(DETECTOR)
EVALUATE_DETECTOR = provaudit detectors evaluate $(DETECTOR) --dataset $(MODEL_DATA) \
	--robustness --format-check
LOO_DETECTOR = provaudit detectors loo --dataset $(MODEL_DATA) $(DETECTOR_RECIPE) \
	--epochs $(LOO_EPOCHS) --out build/loo
DETECTOR_DATA = $(FAKES_PER_FAMILY) images from each shipped generator (gan, vae, diffusion; \
	diffusion with DDIM-25) and $(REAL_CROPS) 32 px crops of the six built-in photos
detector-model: $(VENV)/.dev
	mkdir -p build
	rm -rf $(MODEL_DATA)
	for family in gan vae diffusion; do \
		$(BIN)/provaudit generate -c $(WEIGHTS)/$$family -n $(FAKES_PER_FAMILY) \
			-o $(MODEL_DATA) --sampling-steps 25 --no-record || exit 1; \
	done
	$(BIN)/provaudit generators export-real --builtin -n $(REAL_CROPS) --size 32 -o $(MODEL_DATA) \
		--no-record
	rm -rf $(DETECTOR)
	$(BIN)/$(TRAIN_DETECTOR) --quiet --json > build/detector-train.json
	$(BIN)/provaudit detectors export-onnx $(DETECTOR)
	$(BIN)/$(EVALUATE_DETECTOR) --report $(DETECTOR)/report --json > $(DETECTOR)/evaluation.json
	$(BIN)/$(LOO_DETECTOR) --json > $(DETECTOR)/leave-one-family-out.json
	$(BIN)/provaudit detectors model-card $(DETECTOR) --train-command "$(TRAIN_DETECTOR)" \
		--evaluate-command "$(EVALUATE_DETECTOR)" --loo-command "$(LOO_DETECTOR)" \
		--hardware "$(HARDWARE)" --train-log build/detector-train.json \
		--trained-on "$(DETECTOR_DATA)" --limits detectors/weights/default-limits.md
