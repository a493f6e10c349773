# secondlook: `make demo` runs the main job on built-in defaults, `make test` runs the tests.
# Both bootstrap .venv themselves; it is reused until pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,train,serve,distributed,experiments
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)-$(EXTRAS)
PYTEST_ARGS ?=

.PHONY: help venv demo demo-verdicts test lint format clean

help:
	@echo "make demo           dvc repro (benchmark, two reviewers, export, policy), sample verdicts, then serve"
	@echo "make demo-verdicts  the same without serving (stops after the printed verdicts)"
	@echo "make test           run the test suite"
	@echo "make lint           ruff check + format check, mypy (what CI checks besides the tests)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv || true
	@if [ -x $(BIN)/uv ]; then \
		$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e ".[$(EXTRAS)]"; \
	else \
		$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[$(EXTRAS)]"; \
	fi
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

# The demo is the dvc pipeline (dvc.yaml, params.yaml): `dvc repro` reruns only what changed.
# `make demo-verdicts` stops after printing sample verdicts; `make demo` then serves the API
# and the web page on $(DEMO_HOST):$(DEMO_PORT).
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000
DEMO_SAMPLES ?= 4
DEMO_ENV := SECONDLOOK_POLICY_PATH=runs/policy/verdict.yaml SECONDLOOK_APPRAISER_SEES_SCORES=true

demo: demo-verdicts
	@echo
	@echo "Sign in on the web page with this appraiser key (stored hashed in var/secondlook.db):"
	@$(DEMO_ENV) $(BIN)/secondlook keys create --role appraiser --name demo
	@echo "Web page:  http://$(DEMO_HOST):$(DEMO_PORT)/   (API docs: http://$(DEMO_HOST):$(DEMO_PORT)/docs; Ctrl-C stops)"
	$(DEMO_ENV) $(BIN)/secondlook serve --host $(DEMO_HOST) --port $(DEMO_PORT)

demo-verdicts: venv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro
	$(BIN)/secondlook models promote reviewer_a demo --alias champion
	$(BIN)/secondlook models promote reviewer_b demo --alias champion
	@echo
	@echo "Benchmark: data/synth/ (contact sheet: secondlook data preview data/synth/manifest.csv --out preview.png)"
	@echo "Reports:   runs/eval/reviewer_a/report.md, runs/eval/reviewer_b/report.md; verdicts: runs/verdicts/metrics.json"
	@echo "MLflow:    $(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db"
	@echo
	@echo "Verdicts for $(DEMO_SAMPLES) items of the benchmark's test split (fitted policy runs/policy/verdict.yaml):"
	@$(DEMO_ENV) $(BIN)/secondlook appraise --manifest data/synth/manifest.csv --split test --limit $(DEMO_SAMPLES)

test: venv
	@scripts/system-packages || true
	$(BIN)/python -m pytest -n auto --dist loadgroup -q $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
