# secondlook: `make demo` runs the main job on built-in defaults, `make test` runs the tests.
# Both bootstrap .venv themselves; it is reused until pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,train
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)-$(EXTRAS)
DEMO_DIR ?= data/synth
PYTEST_ARGS ?=

.PHONY: help venv demo test lint format clean

help:
	@echo "make demo   build the synthetic benchmark ($(DEMO_DIR)) and show where it is"
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

demo: venv
	$(BIN)/secondlook data synth --config configs/data/synth.yaml --out $(DEMO_DIR)
	$(BIN)/secondlook data preview $(DEMO_DIR)/manifest.csv --out $(DEMO_DIR)/preview.png --limit 24 --split val
	@echo
	@echo "Benchmark ready in $(DEMO_DIR)/ (manifest.csv, benchmark.json, images/, masks/)."
	@echo "Contact sheet: $(DEMO_DIR)/preview.png"
	@echo "Check it:      $(BIN)/secondlook data validate $(DEMO_DIR)/manifest.csv"

test: venv
	$(BIN)/python -m pytest -n auto -q $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
