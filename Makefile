# swin_mm glue: `make main` sets up and runs the main job, `make test` sets up
# and runs the test suite. Setup is idempotent: it reruns only when the files
# it depends on change.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.swin_mm-setup-done
# Every pip call below (and any inside the venv later) keeps these exact pins,
# so nothing can swap the CPU torch for a CUDA build.
export PIP_CONSTRAINT := $(abspath requirements/constraints.txt)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PIP := $(PY) -m pip install --progress-bar off

.PHONY: setup main main-seg features test test-fast test-inductor lint gpu-wheels clean-venv
TOY_DET := configs/toy/mask-rcnn_swin-toy-p4-w7_fpn_toy-coco.py
TOY_SEG := configs/toy/upernet_swin-toy-p4-w7_toy-seg.py
TOY_DET_CKPT := work_dirs/toy_mask_rcnn/iter_3000.pth

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml requirements/constraints.txt Makefile
	@echo "[setup] virtual environment at $(VENV) ($$($(PYTHON) --version))"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[setup] torch 2.13.0 (CPU) and mmcv's build tools"
	@$(PIP) --quiet torch==2.13.0 setuptools wheel ninja numpy
	@echo "[setup] mmcv 2.1.0 with compiled ops: built from source, about 15 min on 2 cores the first time (pip's wheel cache makes later installs fast)"
	@# pip hides the compiler's output, so a heartbeat counts compiled objects.
	@tmp=$(CURDIR)/$(VENV)/build-tmp; rm -rf $$tmp; mkdir -p $$tmp; \
	TMPDIR=$$tmp MMCV_WITH_OPS=1 MAX_JOBS=$$(nproc) \
	  $(PIP) --no-build-isolation mmcv==2.1.0 > $$tmp/pip.log 2>&1 & pid=$$!; \
	secs=0; while kill -0 $$pid 2>/dev/null; do \
	  sleep 1; secs=$$((secs + 1)); [ $$((secs % 30)) -eq 0 ] || continue; \
	  src=$$(ls -d $$tmp/pip-*/mmcv*/mmcv/ops/csrc/pytorch 2>/dev/null | head -1); \
	  total=$$(ls $$src/*.cpp $$src/cpu/*.cpp 2>/dev/null | wc -l || true); \
	  echo "  mmcv: $$(find $$tmp -name '*.o' | wc -l)/$$total C++ sources compiled, $${secs}s"; \
	done; \
	if ! wait $$pid; then cat $$tmp/pip.log; echo "[setup] mmcv install failed (log above)"; exit 1; fi; \
	grep -E 'Successfully installed|already satisfied: mmcv|Created wheel|Using cached' $$tmp/pip.log | sed 's/^/  /' || true; \
	rm -rf $$tmp
	@echo "[setup] OpenMMLab stack and swin_mm (editable)"
	@$(PIP) --quiet --no-build-isolation -e '.[tests]'
	@$(PY) -c "import torch, mmcv, mmcv.ops, mmdet, mmseg, swin_mm; \
	  print('[setup] ok: torch', torch.__version__, '| mmcv', mmcv.__version__, \
	        '| mmdet', mmdet.__version__, '| mmseg', mmseg.__version__, \
	        '| swin_mm', swin_mm.__version__)"
	@touch $@

# The main job: generate the embedded toy dataset, train Mask R-CNN + Swin on
# it and print COCO bbox / segm mAP on its val split; then evaluate the
# final checkpoint with tools/test.py, drawing each val image's ground truth
# beside its prediction, and tile six of them into one picture.
# It trains in TOY_NPROC processes (torchrun, gloo), one image and one
# thread each: at 128x128 a second thread barely speeds up one process.
TOY_NPROC ?= 2
main: setup
	$(PY) tools/make_toy_data.py data/toy
	PYTHON=$(PY) tools/dist_train.sh $(TOY_DET) $(TOY_NPROC) \
	  --work-dir work_dirs/toy_mask_rcnn
	$(PY) tools/test.py $(TOY_DET) $(TOY_DET_CKPT) \
	  --work-dir work_dirs/toy_mask_rcnn/test \
	  --show-dir $(CURDIR)/work_dirs/toy_mask_rcnn/val_drawn
	$(PY) tools/analysis/tile_images.py work_dirs/toy_mask_rcnn/val_drawn \
	  work_dirs/toy_mask_rcnn/val_predictions.png

# The same for UperNet + Swin on the toy label maps (mIoU). Its backbone
# starts from the toy Mask R-CNN's (as ADE20K's starts from ImageNet's):
# `make main` runs first where its checkpoint is missing.
main-seg: setup
	@test -f $(TOY_DET_CKPT) || { echo "[main-seg] $(TOY_DET_CKPT)" \
	  "not found: training the toy Mask R-CNN first (make main)"; \
	  $(MAKE) --no-print-directory main; }
	$(PY) tools/make_toy_data.py data/toy
	$(PY) tools/train.py $(TOY_SEG) --work-dir work_dirs/toy_upernet

# The four feature maps of Swin-T for one 800x1333 image.
features: setup
	$(PY) tools/print_feature_shapes.py

test: setup
	$(PY) -m pytest tests -m "not inductor"

# The formatting setup.cfg pins: flake8, isort and yapf (79 columns).
LINTED := swin_mm tools tests configs benchmarks
lint: setup
	$(PY) -m flake8 $(LINTED)
	$(PY) -m isort --check-only --diff $(LINTED)
	$(PY) -m yapf --diff --recursive $(LINTED)

# Everything but the long runs (toy trainings, torchrun, the toolkits' own
# tools, the benchmark's smoke run): the everyday subset.
test-fast: setup
	$(PY) -m pytest tests -m "not slow and not inductor"

# torch.compile with Inductor's code generation: minutes on 2 cores, so
# outside `make test`.
test-inductor: setup
	$(PY) -m pytest tests -m inductor

# Wheels for the GPU check (docs/gpu.md): requirements/gpu_check.txt as
# Python 3.12 wheels in .whl/ (git-ignored; it travels with the tree), then
# installed into an empty folder with Python 3.12's tags and no index, as
# tools/gpu_check.sh installs them there.
GPU_WHEELS := .whl
GPU_TAGS := --only-binary=:all: --python-version 3.12 --implementation cp \
	--abi cp312 --platform manylinux_2_28_x86_64 --platform any
gpu-wheels: setup
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(PY) -m pip download --quiet --no-deps $(GPU_TAGS) -d $(GPU_WHEELS) \
	  -r requirements/gpu_check.txt
	tmp=$$(mktemp -d) && $(PY) -m pip install --quiet --no-index --no-deps \
	  $(GPU_TAGS) --target $$tmp/site $(GPU_WHEELS)/*.whl && \
	  ls $$tmp/site | grep -v -e dist-info -e __pycache__ | tr '\n' ' ' && \
	  rm -rf $$tmp
	@echo; du -sh $(GPU_WHEELS); ls $(GPU_WHEELS)

clean-venv:
	rm -rf $(VENV)
