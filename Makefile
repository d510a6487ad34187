# Two commands do all the set-up on a fresh machine:
#   make train   - creates .venv, installs Ember with its compiled kernels (no test tools), trains
#                  LeNet-5 on the bundled MNIST digits
#   make test    - creates .venv, adds the test tools (PyTorch as the oracle), runs the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.installed-app
TEST_STAMP := $(VENV)/.installed-test

# The parity tests, re-run by `make test-kernels` with PyTorch and OpenBLAS forced onto other CPU
# kernels than the machine's own: a float32 tolerance that only one CPU's kernels satisfy fails here.
KERNEL_TESTS := tests/core tests/ops tests/nn tests/optim tests/lecture tests/linalg \
	tests/test_fast_paths.py tests/test_parallel.py tests/vision/test_models.py \
	tests/vision/test_transformers.py tests/compat \
	tests/train/test_parity_recipe.py tests/interpret/test_attributions.py \
	tests/interpret/test_adversarial.py
# `make test` runs everything with Ember's compiled kernels (ember.kernels, the `fast` extra);
# `make test-kernels` also re-runs the parity tests of the ops on NumPy alone (EMBER_KERNELS=numpy),
# so that both paths are held to PyTorch (~1.5 min on 2 cores)
NUMPY_PATH_TESTS := tests/ops tests/optim tests/test_fast_paths.py tests/test_parallel.py
# ATEN_CPU_CAPABILITY / OPENBLAS_CORETYPE pairs; the AVX-512 pair only where the CPU has AVX-512
KERNEL_CONFIGS := default/Haswell avx2/Zen
ifneq ($(shell grep -m1 -o -w avx512f /proc/cpuinfo 2>/dev/null),)
KERNEL_CONFIGS += avx512/SkylakeX
endif
FUZZ_MINUTES ?= 30

.PHONY: train test test-kernels fuzz bench env clean lecture-map lecture-map-check

$(APP_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[app,fast]'
	touch $@

# torch==2.13.0 (CPU) is a test-only oracle; pip takes it from the machine's wheel cache
$(TEST_STAMP): $(APP_STAMP)
	$(BIN)/pip install -q -e '.[app,fast,test]'
	# torchvision is a test oracle (torch.onnx.export of its models, vision.utils, FakeData);
	# --no-deps keeps the CPU torch above instead of the CUDA build its wheel asks for
	$(BIN)/pip install -q --no-deps torchvision==0.28.0
	# ONNX models a real package ships (RapidOCR's text detector and recognizer), read by the
	# ONNX import tests from the installed files; the package itself is never imported
	$(BIN)/pip install -q --no-deps rapidocr-onnxruntime==1.4.4
	# the d2l book's library, a client the compatibility suite runs: it pins old numpy, torch
	# and pandas, so it comes without them (the test extra has what it imports)
	$(BIN)/pip install -q --no-deps d2l==1.0.3
	touch $@

env: $(TEST_STAMP)

train: $(APP_STAMP)
	$(BIN)/ember train

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

test-kernels: $(TEST_STAMP)
	@set -e; for config in $(KERNEL_CONFIGS); do \
		aten=$${config%/*}; blas=$${config#*/}; \
		echo "== parity tests with ATEN_CPU_CAPABILITY=$$aten OPENBLAS_CORETYPE=$$blas"; \
		ATEN_CPU_CAPABILITY=$$aten OPENBLAS_CORETYPE=$$blas \
			$(BIN)/python -m pytest -q -p no:cacheprovider $(KERNEL_TESTS); \
	done
	@echo "== parity tests of the ops on NumPy alone (EMBER_KERNELS=numpy)"
	EMBER_KERNELS=numpy $(BIN)/python -m pytest -q -p no:cacheprovider $(NUMPY_PATH_TESTS)

# a long fuzzing campaign over every file reader (make test runs a one-minute one)
fuzz: $(TEST_STAMP)
	$(BIN)/python -m tests.fuzz --minutes $(FUZZ_MINUTES)

bench: $(TEST_STAMP)
	$(BIN)/python -m benchmarks.run

# docs/lectures.md: the lecture inventory (../shared/LECTURE_INVENTORY.md, or
# $$LECTURE_INVENTORY) against the inventory ids cited in the code and tests; standard
# library only, no venv needed
lecture-map:
	$(PYTHON) scripts/lecture_map.py

lecture-map-check:
	$(PYTHON) scripts/lecture_map.py --check

clean:
	rm -rf $(VENV) runs
