# Quick start:  make demo  (set up, train the default model, write its report)   make test  (set up and run the tests)
# make test-fast: the unit tier alone.  make bench: benchmarks/bench.py, every performance figure into
# bench-results/<cpu-kind>/ and docs/PERFORMANCE.md (35-65 min on a 2-core Zen 5; hours on a 2-core float32 AVX2 CPU,
# most of it the best part).  make pretrained: the bundled models again.  make test-wheel: CI's wheel smoke test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: demo test test-fast test-wheel lint bench pretrained setup clean

# one environment for both: the core with every extra (serve, export, tracking, notebook) and the test tools
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# a venv made when the core required tensorflow-cpu: two TensorFlow distributions must not share one venv
	if $(BIN)/pip show --quiet tensorflow-cpu 2>/dev/null; then $(BIN)/pip uninstall --yes --quiet tensorflow-cpu tensorflow; fi
	$(BIN)/pip install $(PIP_FLAGS) -e '.[all,test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/cnnlab train --run-dir runs/demo --overwrite
	$(BIN)/cnnlab report runs/demo
	@echo "next: open runs/demo/report/report.html; draw digits with '$(BIN)/cnnlab serve runs/demo';" \
	      "try your own photos with '$(BIN)/cnnlab predict runs/demo PHOTO...'"

test: lint
	$(BIN)/python -m pytest -q

# the unit tier: no model is trained, no server or browser started
FAST_TESTS := tests/test_structure.py tests/test_config.py tests/test_cli_startup.py tests/test_normalize.py \
              tests/test_splits.py tests/test_pipeline.py tests/test_idx.py tests/test_optimizers.py \
              tests/test_sources.py tests/test_plots.py tests/benchmarks/test_document.py tests/test_layers.py \
              tests/test_augment.py tests/test_extras.py
test-fast: lint
	$(BIN)/python -m pytest -q $(FAST_TESTS)

# style: pyflakes and pycodestyle checks, lines up to 120 characters (pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check --quiet .

# what CI runs after make test: the wheel, core only, in a fresh venv, used from another folder
test-wheel: $(STAMP)
	.ci/wheel_smoke.sh

# the bundled models (src/cnnlab/data/bundled/models), trained again from benchmarks/pretrained.json
pretrained: $(STAMP)
	$(BIN)/python benchmarks/train_pretrained.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) runs .pytest_cache
