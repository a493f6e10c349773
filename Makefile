# secondlook: `make demo` runs the main job on built-in defaults, `make test` runs the tests.
# Both bootstrap .venv themselves; it is reused until pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,train,serve,distributed,experiments
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)-$(EXTRAS)
PYTEST_ARGS ?=

.PHONY: help venv demo demo-verdicts demo-train champions test lint format clean

help:
	@echo "make demo           the shipped champions (models/) on a fresh benchmark: sample verdicts, figures, then serve"
	@echo "make demo-verdicts  the same without serving (stops after the printed verdicts and figures)"
	@echo "make demo-train     the training pipeline in minutes (dvc repro: benchmark, two reviewers, export, policy)"
	@echo "make champions      train the champions at length and ship them into models/ (hours; resumable)"
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

# `make demo` runs the shipped champions (models/, ARCHITECTURE.md §9) with the policy fitted
# on them (models/policy.yaml: 6,000 held-out items; a 1% error bound needs hundreds of decided
# items, more than a quick benchmark has) on a benchmark of its own seed that nothing was
# fitted on: sample verdicts, then the panel's coverage and error and both champions' figures
# on all of its items. `make demo` then serves the API and the web page on $(DEMO_HOST):$(DEMO_PORT).
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000
DEMO_SAMPLES ?= 4
DEMO_ITEMS ?= 400
DEMO_SEED ?= 3703
DEMO_DATA := data/demo-s$(DEMO_SEED)-n$(DEMO_ITEMS)
DEMO_POLICY ?= models/policy.yaml
DEMO_OUT := runs/demo
DEMO_ENV := SECONDLOOK_POLICY_PATH=$(DEMO_POLICY) SECONDLOOK_APPRAISER_SEES_SCORES=true

demo: demo-verdicts
	@echo
	@echo "Sign in on the web page with this appraiser key (stored hashed in var/secondlook.db):"
	@$(DEMO_ENV) $(BIN)/secondlook keys create --role appraiser --name demo
	@echo "Web page:  http://$(DEMO_HOST):$(DEMO_PORT)/   (API docs: http://$(DEMO_HOST):$(DEMO_PORT)/docs; Ctrl-C stops)"
	$(DEMO_ENV) $(BIN)/secondlook serve --host $(DEMO_HOST) --port $(DEMO_PORT)

$(DEMO_DATA)/manifest.csv: | venv
	$(BIN)/secondlook data synth --out $(DEMO_DATA) --items $(DEMO_ITEMS) --seed $(DEMO_SEED) --splits 0,0,1 --quiet

demo-verdicts: venv $(DEMO_DATA)/manifest.csv
	@$(BIN)/secondlook models list
	@echo
	@echo "Verdicts of the shipped champions for $(DEMO_SAMPLES) items of $(DEMO_DATA) (policy $(DEMO_POLICY)):"
	@$(DEMO_ENV) $(BIN)/secondlook appraise --manifest $(DEMO_DATA)/manifest.csv --split test --limit $(DEMO_SAMPLES)
	@echo
	$(BIN)/secondlook policy evaluate --data $(DEMO_DATA)/manifest.csv --split test --quiet \
		--policy $(DEMO_POLICY) --out $(DEMO_OUT)/verdicts
	$(BIN)/secondlook evaluate --bundle reviewer_a@champion --data $(DEMO_DATA)/manifest.csv --split test \
		--out $(DEMO_OUT)/eval/reviewer_a
	$(BIN)/secondlook evaluate --bundle reviewer_b@champion --data $(DEMO_DATA)/manifest.csv --split test \
		--out $(DEMO_OUT)/eval/reviewer_b
	@echo
	@echo "Cards (figures on 2,000 held-out items with 95% intervals): models/reviewer_a/*/card.md, models/reviewer_b/*/card.md"
	@echo "Reports on this benchmark: $(DEMO_OUT)/eval/reviewer_*/report.md; verdicts: $(DEMO_OUT)/verdicts/metrics.json"

# The training pipeline behind the champions, sized for minutes: `dvc repro` (dvc.yaml,
# params.yaml) renders the demo benchmark, trains both reviewers, exports, fits the policy and
# scores the test split; it reruns only what changed. Its bundles are models/reviewer_*/demo.
TRAIN_ENV := SECONDLOOK_POLICY_PATH=runs/policy/verdict.yaml SECONDLOOK_APPRAISER_SEES_SCORES=true \
	SECONDLOOK_REVIEWERS='{"reviewer_a": "reviewer_a/demo", "reviewer_b": "reviewer_b/demo"}'

demo-train: venv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro
	@echo
	@echo "Benchmark: data/synth/ (contact sheet: secondlook data preview data/synth/manifest.csv --out preview.png)"
	@echo "Reports:   runs/eval/reviewer_a/report.md, runs/eval/reviewer_b/report.md; verdicts: runs/verdicts/metrics.json"
	@echo "MLflow:    $(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db"
	@echo
	@echo "Verdicts of the freshly trained reviewers for $(DEMO_SAMPLES) items of the benchmark's test split (policy runs/policy/verdict.yaml):"
	@$(TRAIN_ENV) $(BIN)/secondlook appraise --manifest data/synth/manifest.csv --split test --limit $(DEMO_SAMPLES)

# Hours on a 2-core CPU, minutes on a GPU; run it again after an interruption (scripts/champions).
champions: venv
	scripts/champions

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
