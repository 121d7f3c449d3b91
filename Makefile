# The two commands a newcomer needs: `make run` (set up + main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
SAMPLE := tests/fixtures/c2pa/adobe-20220124-CA.jpg
SAMPLE_TRUST := tests/fixtures/c2pa/test_cert_root_bundle.pem

.PHONY: run verify-sample test lint bench clean models generator-models detector-model corpus \
	detector-data detector-train detector-loso detector-records detector-family-record \
	detector-evaluation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Serving weight: no torch.
$(VENV)/.serve: $(BIN)/python pyproject.toml
	$(PIP) install -q -e .
	@touch $@

# Tests need the training weight too (torch, torchvision, timm: CUDA builds from the
# registry, ~5.5 GB, they run on CPU), the bias-report extra (fairlearn, matplotlib, OpenCV) and
# Ray Data (~80 MB), whose test runs `bias-report --engine ray` on a local Ray.
$(VENV)/.dev: $(VENV)/.serve
	$(PIP) install -q -e '.[dev,train,bias,ray]'
	@touch $@

# The main job: the moderation service on the embedded default (SQLite file, development
# signing identity created on first start), at http://127.0.0.1:8000 (API docs at /docs).
# What it signs reads "valid, development signer" there as in `provaudit verify`: the dev
# root is no trust anchor unless PROVAUDIT_TRUST_DEV_IDENTITY=true (docs/api.md).
run: $(VENV)/.serve
	$(BIN)/provaudit serve --host 127.0.0.1 --port 8000

verify-sample: $(VENV)/.serve
	$(BIN)/provaudit verify $(SAMPLE) --trust $(SAMPLE_TRUST) --tree

# One worker per core; a test file stays on one worker, so its module fixtures (trained
# tiny models, live servers) are built once. Schemathesis runs apart, in one process:
# pytest-xdist drops its per-operation results (tests/test_schemathesis.py says more).
TEST_WORKERS ?= auto
SERIAL_TESTS := tests/test_schemathesis.py
test: $(VENV)/.dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(addprefix --ignore=,$(SERIAL_TESTS))
	$(BIN)/python -m pytest $(SERIAL_TESTS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.dev
	$(BIN)/python bench/provenance_bench.py
	$(BIN)/python bench/detector_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The shipped models, trained by the project's own commands on the built-in real photos:
# four generators (`make generator-models`), a labelled and signed data set from them, and
# the default detector. Each generator's MODEL_CARD.md is written from its run's records.
# On a 2-core CPU the generators take about two hours with these step counts; a GPU
# (--device auto picks it) takes minutes.
GAN_STEPS ?= 3000
VAE_STEPS ?= 1000
DIFFUSION_STEPS ?= 4000
PIXELCNN_STEPS ?= 600
FAKES_PER_FAMILY ?= 2500
# The PixelCNN samples pixel by pixel (hours for 2,500 on 2 cores); style transfer
# fakes share their content with the built-in photos, so fewer of them suffice.
SLOW_FAKES ?= 500
# text_diffusion's fakes: this many for each of its caption kinds (TEXT_KINDS).
TEXT_FAKES_PER_PROMPT ?= 125
DETECTOR_EPOCHS ?= 8
HARDWARE ?= a 2-core x86-64 CPU (Intel Xeon)
WEIGHTS := generators/weights
# The shipped generators, each one family of images for the detector.
FAMILIES := gan vae diffusion pixelcnn style text_diffusion
DETECTOR := detectors/weights/default
TRAIN_gan = provaudit generators train gan --builtin --size 32 --steps $(GAN_STEPS) --batch 64 \
	--sample-every 1000 --out $(WEIGHTS)/gan
TRAIN_vae = provaudit generators train vae --builtin --size 32 --steps $(VAE_STEPS) --batch 64 \
	--sample-every 1000 --out $(WEIGHTS)/vae
TRAIN_diffusion = provaudit generators train diffusion --builtin --size 32 \
	--steps $(DIFFUSION_STEPS) --batch 32 --preset compact --sample-every 1000 \
	--out $(WEIGHTS)/diffusion
TRAIN_pixelcnn = provaudit generators train pixelcnn --builtin --size 32 \
	--steps $(PIXELCNN_STEPS) --batch 16 --preset compact --sample-every $(PIXELCNN_STEPS) \
	--out $(WEIGHTS)/pixelcnn
# Style transfer learns one style: a painting drawn by code (generators/renders/painting.py),
# human-made and shippable. A run stopped at step N equals a run of --steps N.
STYLE_STEPS ?= 662
STYLE_IMAGE := build/style-source/painting_00002.png
TRAIN_style = provaudit generators train style --builtin --size 32 --steps $(STYLE_STEPS) \
	--batch 16 --preset compact --style $(STYLE_IMAGE) --sample-every 500 --out $(WEIGHTS)/style
# Text-conditioned diffusion learns from captioned pictures: code-drawn renders of four
# kinds, each squashed whole to 32 px and filed under its kind, the caption.
TEXT_KINDS := gradient text pixelart texture
TEXT_DATA := build/text-data
TEXT_STEPS ?= 4000
TRAIN_text_diffusion = provaudit generators train text_diffusion --data $(TEXT_DATA) --size 32 \
	--steps $(TEXT_STEPS) --batch 32 --preset compact --seed 0 --sample-every $(TEXT_STEPS) \
	--out $(WEIGHTS)/text_diffusion
EVALUATE_text_diffusion = provaudit generators evaluate --data $(TEXT_DATA) -n 300 \
	--sampling-steps 25
EVALUATE_GENERATOR = provaudit generators evaluate --builtin -n 300 --sampling-steps 25
# The PixelCNN samples with one network pass per pixel: fewer samples keep it to minutes.
EVALUATE_pixelcnn = provaudit generators evaluate --builtin -n 32

$(STYLE_IMAGE): $(VENV)/.dev
	$(BIN)/provaudit generators export-renders --kind painting -n 3 --seed 0 \
		--out build/style-source

$(TEXT_DATA): $(VENV)/.dev
	$(BIN)/provaudit generators export-renders $(addprefix --kind ,$(TEXT_KINDS)) -n 480 \
		--seed 0 --square 32 --out $(TEXT_DATA)

generator-models: $(VENV)/.dev $(STYLE_IMAGE) $(TEXT_DATA)
	mkdir -p build
	for family in $(FAMILIES); do \
		evaluate="$(EVALUATE_GENERATOR)"; \
		case $$family in \
			gan) train="$(TRAIN_gan)";; vae) train="$(TRAIN_vae)";; \
			diffusion) train="$(TRAIN_diffusion)";; style) train="$(TRAIN_style)";; \
			pixelcnn) train="$(TRAIN_pixelcnn)"; evaluate="$(EVALUATE_pixelcnn)";; \
			text_diffusion) train="$(TRAIN_text_diffusion)"; \
				evaluate="$(EVALUATE_text_diffusion)";; \
		esac; \
		rm -rf $(WEIGHTS)/$$family; \
		$(BIN)/$$train --no-progress --json > build/$$family-train.json || exit 1; \
		$(BIN)/provaudit generators export-onnx $(WEIGHTS)/$$family || exit 1; \
		$(BIN)/$$evaluate $(WEIGHTS)/$$family --json > $(WEIGHTS)/$$family/evaluation.json \
			|| exit 1; \
		$(BIN)/provaudit generators model-card $(WEIGHTS)/$$family --command "$$train" \
			--hardware "$(HARDWARE)" --train-log build/$$family-train.json \
			--evaluate-command "$$evaluate $(WEIGHTS)/$$family" || exit 1; \
	done

models: generator-models
	$(MAKE) detector-model

# A real-photo corpus (and a smaller human-made artwork one) with licences and versions,
# from Debian packages: apt-get download and dpkg -x into build/deb-cache, nothing installed.
# Needs apt-get and dpkg (a Debian-based system) and current package lists (apt-get update).
corpus: $(VENV)/.dev
	$(BIN)/provaudit generators export-corpus --out build/corpus

# The default detector, trained on the shipped generators' output, fakes aligned with real
# photos (the VAE's reconstructions, and the diffusion UNet's partial re-noising and local
# inpainting of windows of the corpus photos), the corpus's real photos (one source per package) and
# programmatic human-made renders in the real class. Two npr_tiny experts trained apart,
# max-fused (detectors/fusion.py), with the web augmentation (downscale, sharpening, JPEG
# 4:2:0 or WebP) for both classes. Then the records its model card is written from:
# held-out evaluation, leave-one-family-out, leave-sources-out (each photo source left out
# of training and calibration in turn) and the corpus's human-made artwork, never trained on.
# Each training runs on one thread (OMP_NUM_THREADS=1): on a 2-core CPU two lanes run side
# by side, each with about half the trainings (the default detector and the left-out
# families not in LOSO_LANE_FAMILIES; the leave-sources-out folds and those families,
# five trainings each with six families); DETECTOR_JOBS=1 runs them
# one after the other. Every fold and expert already trained from the same data and options
# is kept, so after an interruption `make -j2 detector-train detector-loso` and then
# `make detector-records` go on where it stopped.
CORPUS := build/corpus
WILD_DATA := build/wild-data
RENDERS ?= 1000
ALIGNED_PER_SOURCE ?= 80
DETECTOR_STEPS ?= 100
PHOTO_SOURCES = $(notdir $(wildcard $(CORPUS)/photo/*))
ARTWORK_SOURCES = $(notdir $(wildcard $(CORPUS)/artwork/*))
DETECTOR_DATA_ARGS = --dataset $(WILD_DATA)/generated --dataset $(WILD_DATA)/aligned \
	--real $(WILD_DATA)/renders $(addprefix --real $(CORPUS)/photo/,$(PHOTO_SOURCES))
DETECTOR_AUGMENT ?= web
DETECTOR_RECIPE = --image-size 32 --arch npr_tiny --transform npr_raw --transform chroma \
	--same-codec mixed --augment $(DETECTOR_AUGMENT) --steps-per-epoch $(DETECTOR_STEPS)
TRAIN_DETECTOR = provaudit detectors train $(DETECTOR_DATA_ARGS) $(DETECTOR_RECIPE) \
	--epochs $(DETECTOR_EPOCHS) --out $(DETECTOR)
EVALUATE_DETECTOR = provaudit detectors evaluate $(DETECTOR) $(DETECTOR_DATA_ARGS) \
	--robustness --format-check --abstention
LOO_DETECTOR = provaudit detectors loo $(DETECTOR_DATA_ARGS) $(DETECTOR_RECIPE) \
	--epochs $(DETECTOR_EPOCHS) --out build/loo
# The families whose left-out folds the leave-sources-out lane trains.
LOSO_LANE_FAMILIES := style text_diffusion
LOSO_DETECTOR = provaudit detectors loso $(DETECTOR_DATA_ARGS) $(DETECTOR_RECIPE) \
	--epochs $(DETECTOR_EPOCHS) $(addprefix --source ,$(PHOTO_SOURCES)) --folds 3 \
	--out build/loso
UNSEEN_DETECTOR = provaudit detectors unseen $(DETECTOR) \
	$(addprefix --real $(CORPUS)/artwork/,$(ARTWORK_SOURCES))
DETECTOR_DATA = $(FAKES_PER_FAMILY) images from each shipped generator (gan, vae, diffusion; \
	diffusion with DDIM-25), $(SLOW_FAKES) from the pixelcnn and style ones, \
	$(TEXT_FAKES_PER_PROMPT) from text_diffusion for each of its prompts ($(TEXT_KINDS)); \
	$(ALIGNED_PER_SOURCE) VAE reconstructions, $(ALIGNED_PER_SOURCE) \
	partial re-noisings (diffusion, strength 0.2-0.5) and $(ALIGNED_PER_SOURCE) local \
	inpaintings (diffusion, 15-40% of the window) of 64-96 px windows of each photo source; \
	real: the corpus photos ($(words $(PHOTO_SOURCES)) sources, make corpus) and $(RENDERS) \
	programmatic renders (provaudit generators export-renders)
ONE_THREAD = OMP_NUM_THREADS=1

detector-data: corpus
	rm -rf $(WILD_DATA)
	for family in $(filter-out text_diffusion,$(FAMILIES)); do \
		case $$family in pixelcnn|style) n=$(SLOW_FAKES);; *) n=$(FAKES_PER_FAMILY);; esac; \
		$(ONE_THREAD) $(BIN)/provaudit generate -c $(WEIGHTS)/$$family -n $$n \
			-o $(WILD_DATA)/generated --sampling-steps 25 --no-record --no-watermark || exit 1; \
	done
	seed=0; for prompt in $(TEXT_KINDS); do \
		$(ONE_THREAD) $(BIN)/provaudit generate -c $(WEIGHTS)/text_diffusion --prompt $$prompt \
			-n $(TEXT_FAKES_PER_PROMPT) --seed $$seed -o $(WILD_DATA)/generated \
			--sampling-steps 25 --no-record --no-watermark || exit 1; \
		seed=$$((seed + 10000)); \
	done
	$(BIN)/provaudit generators export-renders -o $(WILD_DATA)/renders -n $(RENDERS) --seed 0
	$(ONE_THREAD) $(BIN)/provaudit generators export-aligned -o $(WILD_DATA)/aligned \
		$(addprefix --photos $(CORPUS)/photo/,$(PHOTO_SOURCES)) --vae $(WEIGHTS)/vae \
		--diffusion $(WEIGHTS)/diffusion --per-source $(ALIGNED_PER_SOURCE) --window-min 64 \
		--window-max 96 --denoise-steps 5 --json > build/aligned.json

detector-model: detector-data
	rm -rf $(DETECTOR)
	$(MAKE) -j$(or $(DETECTOR_JOBS),2) detector-train detector-loso
	$(MAKE) detector-records

detector-train:
	$(ONE_THREAD) $(BIN)/$(TRAIN_DETECTOR) --quiet --json > build/detector-train.json
	$(BIN)/provaudit detectors export-onnx $(DETECTOR)
	$(ONE_THREAD) $(BIN)/$(LOO_DETECTOR) \
		$(addprefix --family ,$(filter-out $(LOSO_LANE_FAMILIES),$(FAMILIES))) > /dev/null

detector-loso:
	$(ONE_THREAD) $(BIN)/$(LOSO_DETECTOR) --json > build/leave-sources-out.json
	$(ONE_THREAD) $(BIN)/$(LOO_DETECTOR) $(addprefix --family ,$(LOSO_LANE_FAMILIES)) > /dev/null

# Every left-out family's fold is trained by now: this only scores them, into one record.
detector-family-record:
	$(ONE_THREAD) $(BIN)/$(LOO_DETECTOR) --json > build/leave-one-family-out.json
	cp build/leave-one-family-out.json $(DETECTOR)/leave-one-family-out.json
	cp build/leave-sources-out.json $(DETECTOR)/leave-sources-out.json

detector-evaluation:
	$(ONE_THREAD) $(BIN)/$(EVALUATE_DETECTOR) --report $(DETECTOR)/report --json \
		> $(DETECTOR)/evaluation.json
	$(ONE_THREAD) $(BIN)/$(UNSEEN_DETECTOR) --json > $(DETECTOR)/human-made.json

# The records, two lanes again, then the card written from them.
detector-records:
	$(MAKE) -j$(or $(DETECTOR_JOBS),2) detector-family-record detector-evaluation
	$(BIN)/provaudit detectors model-card $(DETECTOR) --train-command "$(TRAIN_DETECTOR)" \
		--evaluate-command "$(EVALUATE_DETECTOR)" --loo-command "$(LOO_DETECTOR)" \
		--loso-command "$(LOSO_DETECTOR)" --unseen-command "$(UNSEEN_DETECTOR)" \
		--hardware "$(HARDWARE)" --train-log build/detector-train.json \
		--trained-on "$(DETECTOR_DATA)" --limits detectors/weights/default-limits.md
