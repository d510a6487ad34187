# Two commands do all the set-up on a fresh machine:
#   make train   - creates .venv, installs Ember, trains LeNet-5 on the bundled MNIST digits
#   make test    - creates .venv, installs Ember with the test tools, runs the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

FUZZ_MINUTES ?= 30

.PHONY: train test fuzz bench env clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch==2.13.0 (CPU) is a test-only oracle; pip takes it from the machine's wheel cache
	$(BIN)/pip install -q -e '.[app,test]'
	# torchvision, the oracle of the .pth tests: its wheel pins a CUDA build of torch, so it
	# comes without dependencies (the tests import it with torch.library.register_fake stubbed)
	$(BIN)/pip install -q --no-deps torchvision==0.28.0
	touch $(STAMP)

env: $(STAMP)

train: $(STAMP)
	$(BIN)/ember train

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

# a long fuzzing campaign over every file reader (make test runs a one-minute one)
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --minutes $(FUZZ_MINUTES)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) runs
