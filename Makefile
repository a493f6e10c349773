# secondlook: `make demo` runs the main job on built-in defaults, `make test` runs the tests.
# Both bootstrap .venv themselves; it is reused until pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,train,serve,distributed
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)-$(EXTRAS)
DEMO_DIR ?= data/synth
PYTEST_ARGS ?=

.PHONY: help venv demo test lint format clean
# Keep the demo's intermediate files (trained models) instead of deleting them after use.
.SECONDARY:

help:
	@echo "make demo   build the synthetic benchmark ($(DEMO_DIR)), train and evaluate both reviewers"
	@echo "make test   run the test suite"
	@echo "make lint   ruff check + format check"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv || true
	@if [ -x $(BIN)/uv ]; then \
		$(BIN)/uv pip install -q --python $(BIN)/python -e ".[$(EXTRAS)]"; \
	else \
		$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[$(EXTRAS)]"; \
	fi
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

# The demo is incremental: each step reruns only when what it reads has changed.
demo: venv $(DEMO_DIR)/preview.png runs/agreement.json models/reviewer_a/demo/model.onnx models/reviewer_b/demo/model.onnx
	$(BIN)/secondlook models promote reviewer_a demo --alias champion
	$(BIN)/secondlook models promote reviewer_b demo --alias champion
	@echo
	@echo "Benchmark:  $(DEMO_DIR)/ (contact sheet $(DEMO_DIR)/preview.png)"
	@echo "Reviewers:  runs/reviewer_a/model.safetensors, runs/reviewer_b/model.safetensors"
	@echo "Reports:    runs/reviewer_a/eval/report.md, runs/reviewer_b/eval/report.md"
	@echo "Bundles:    models/reviewer_a/demo, models/reviewer_b/demo (champions; see $(BIN)/secondlook models list)"
	@echo "MLflow:     $(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db"

$(DEMO_DIR)/manifest.csv: configs/data/synth.yaml $(STAMP)
	$(BIN)/secondlook data synth --config configs/data/synth.yaml --out $(DEMO_DIR)

$(DEMO_DIR)/preview.png: $(DEMO_DIR)/manifest.csv
	$(BIN)/secondlook data preview $(DEMO_DIR)/manifest.csv --out $@ --limit 24 --split val

runs/reviewer_%/model.safetensors: configs/train/reviewer_%.yaml $(DEMO_DIR)/manifest.csv
	rm -rf runs/reviewer_$*
	$(BIN)/secondlook train --config $< --set data.manifest=$(DEMO_DIR)/manifest.csv

runs/reviewer_%/eval/metrics.json: runs/reviewer_%/model.safetensors
	$(BIN)/secondlook evaluate --checkpoint $< --data $(DEMO_DIR)/manifest.csv --split test --out runs/reviewer_$*/eval

# The demo's bundles are rebuilt when their reviewer is retrained (release bundles get a
# new version folder instead: bundles are immutable).
models/reviewer_%/demo/model.onnx: runs/reviewer_%/model.safetensors
	rm -rf models/reviewer_$*/demo
	$(BIN)/secondlook export --checkpoint $< --out models/reviewer_$*/demo

runs/agreement.json: runs/reviewer_a/eval/metrics.json runs/reviewer_b/eval/metrics.json
	$(BIN)/secondlook compare runs/reviewer_a/eval runs/reviewer_b/eval --out $@

test: venv
	@scripts/system-packages || true
	$(BIN)/python -m pytest -n auto -q $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
