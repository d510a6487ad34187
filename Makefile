# Two commands do all the set-up on a fresh machine:
#   make train   - creates .venv, installs Ember, trains LeNet-5 on the bundled MNIST digits
#   make test    - creates .venv, installs Ember with the test tools, runs the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train test bench env clean lecture-map lecture-map-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch==2.13.0 (CPU) is a test-only oracle; pip takes it from the machine's wheel cache
	$(BIN)/pip install -q -e '.[app,test]'
	touch $(STAMP)

env: $(STAMP)

train: $(STAMP)
	$(BIN)/ember train

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: $(STAMP)
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
