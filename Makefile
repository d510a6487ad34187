# Two commands do all the set-up on a fresh machine:
#   make train   - creates .venv, installs Ember, trains LeNet-5 on the bundled MNIST digits
#   make test    - creates .venv, installs Ember with the test tools, runs the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train test bench env clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch==2.13.0 (CPU) is a test-only oracle; pip takes it from the machine's wheel cache
	$(BIN)/pip install -q -e '.[app,test]'
	# torchvision is a test oracle (torch.onnx.export of its models); --no-deps keeps the CPU
	# torch above instead of the CUDA build its wheel asks for
	$(BIN)/pip install -q --no-deps torchvision==0.28.0
	# ONNX models a real package ships (RapidOCR's text detector and recognizer), read by the
	# ONNX import tests from the installed files; the package itself is never imported
	$(BIN)/pip install -q --no-deps rapidocr-onnxruntime==1.4.4
	touch $(STAMP)

env: $(STAMP)

train: $(STAMP)
	$(BIN)/ember train

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) runs
