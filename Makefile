# Two entry points a fresh machine needs: `make demo` and `make test`.
# Each creates/updates .venv itself.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.stamp-app
DEV_STAMP := $(VENV)/.stamp-dev

.PHONY: demo test sysdeps bench clean

$(APP_STAMP): pyproject.toml Makefile pipeline/faces/mediapipe_models.py scripts/gpu_runtime.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	# insightface declares opencv-python (non-headless, clashes with PyQt5's Qt) and
	# onnxruntime: install it without its declared deps, ours cover what it imports.
	$(BIN)/python -m pip install -q --no-deps insightface==2.1
	# With an NVIDIA GPU, onnxruntime-gpu (CUDA/cuDNN pip libraries included) replaces the CPU
	# build (same module name); without one, or if it cannot be installed, the CPU build stays.
	bash scripts/gpu_runtime.sh $(BIN)/python
	# MediaPipe's Apache-2.0 face models: the pinned wheel downloaded (not installed), the
	# model files extracted and sha256-checked into $(VENV)/share/recast/mediapipe
	$(BIN)/python -m recast.pipeline.faces.mediapipe_models
	touch $@

$(DEV_STAMP): $(APP_STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,train]'
	# pip puts the CPU onnxruntime back (pyproject pins it): swap again on a GPU machine
	bash scripts/gpu_runtime.sh $(BIN)/python
	touch $@

sysdeps:
	bash scripts/sysdeps.sh

demo: $(APP_STAMP)
	$(BIN)/recast demo

test: $(DEV_STAMP) sysdeps
	$(BIN)/python -m pytest

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info
