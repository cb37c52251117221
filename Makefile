# The grid transparency portal's commands. `make demo` and `make test` are all a new
# machine needs (Debian with Python 3.11, make and root); see docs/operations.md.

SHELL := /bin/sh
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Rebuilt when pyproject.toml changes; lives inside .venv so `make clean` drops it too.
VENV_STAMP := $(VENV)/.installed

# pytest-xdist workers; `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
DEMO_ARGS ?=
LOAD_ARGS ?=
BUILD_BENCH ?= --all

# `make package`: Chalice's bundle and template for the functions (docs/deployment.md).
STAGE ?= prod
REGION ?= cn-north-1
PACKAGE_DIR ?= build/chalice

# Chromium for the browser tests, Noto CJK and Pango for the posters (WeasyPrint), zbar to
# decode their QR codes in the tests.
SYSTEM_PACKAGES := chromium fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libzbar0

.PHONY: help venv system-deps lint fmt test demo demo-aws demo-reset rebuild bench bench-load \
	package clean

help:
	@echo "make demo         run the whole portal locally (http://127.0.0.1:8000/)"
	@echo "make demo-aws     the same demo on the AWS shape (DynamoDB and S3 played by moto)"
	@echo "make demo-reset   the demo, forgetting the saved demo data first"
	@echo "make rebuild      the nightly build now, against the running demo"
	@echo "make test         lint, type-check and run every test, browser tests included"
	@echo "make lint         ruff and mypy only"
	@echo "make fmt          format and auto-fix with ruff"
	@echo "make bench        measure the speed targets (benchmarks/: request paths, build, redactor)"
	@echo "make bench-load   32 simulated residents against the local origin (benchmarks/load.py)"
	@echo "make package      bundle the functions with chalice package into $(PACKAGE_DIR)/"
	@echo "make system-deps  install Debian's chromium and CJK fonts (needs root)"
	@echo "make clean        remove .venv, var/, output/, build/ and functions/vendor/"

$(VENV_STAMP): pyproject.toml
	@if ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	    scripts/system-deps.sh python3-venv; fi
	@echo "==> creating $(VENV) and installing the portal with its dev tools"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --progress-bar off \
	    -e '.[dev]'
	@touch $@

venv: $(VENV_STAMP)

system-deps:
	@scripts/system-deps.sh $(SYSTEM_PACKAGES)

lint: $(VENV_STAMP)
	@echo "==> ruff check"
	@$(BIN)/ruff check .
	@echo "==> ruff format --check"
	@$(BIN)/ruff format --check .
	@echo "==> mypy"
	@$(BIN)/mypy

fmt: $(VENV_STAMP)
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

# GRIDPORTAL_REQUIRE_BROWSER=1 turns a missing browser into a failure, never a skip.
test: $(VENV_STAMP) system-deps lint
	@echo "==> pytest"
	@GRIDPORTAL_REQUIRE_BROWSER=1 $(BIN)/pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

demo: $(VENV_STAMP)
	@$(BIN)/portal demo $(DEMO_ARGS)

demo-aws: $(VENV_STAMP)
	@$(BIN)/portal demo --aws $(DEMO_ARGS)

demo-reset: $(VENV_STAMP)
	@$(BIN)/portal demo --reset $(DEMO_ARGS)

# `portal` finds the demo's settings in var/demo/portal.env, running or not.
rebuild: $(VENV_STAMP)
	@$(BIN)/portal build

# The request paths, the nightly build at city scale (long: it builds 1,000,000 cases; pick
# pieces with BUILD_BENCH="--full-100k --api") and the redactor. docs/benchmarks.md.
bench: $(VENV_STAMP)
	@$(BIN)/python benchmarks/run.py
	@$(BIN)/python benchmarks/build.py $(BUILD_BENCH)
	@$(BIN)/python benchmarks/privacy.py

bench-load: $(VENV_STAMP)
	@$(BIN)/python benchmarks/load.py $(LOAD_ARGS)

# Two Chalice projects, two bundles (docs/scale.md). The API (functions/) carries the core
# and the reference content only: no Pelican, no theme, no rendering modules. The nightly
# build (functions/nightly/, the steps of infra/nightly.json) carries the core, content,
# theme and site settings. Chalice puts each project's vendor/ at the root of its bundle;
# requirements.txt is resolved to Lambda wheels by chalice itself. Packaging talks to no
# AWS account: credentials are cleared, only the region is set.
API_OMITS := publish.py shards.py synth.py demo.py demo_server.py cli.py importer.py \
    adapters/pelican_site.py adapters/theme.py adapters/embedded_aws.py \
    adapters/local_server.py adapters/state_machine.py adapters/directory_site.py
# The redactor runs in the API too (a lookup's staff text, a note checked before it is
# stored; docs/privacy.md): jieba's segmenter needs only these of its 42 MB.
API_JIEBA := __init__.py _compat.py dict.txt finalseg/__init__.py finalseg/prob_start.py \
    finalseg/prob_trans.py finalseg/prob_emit.py
CHALICE_PACKAGE := env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    -u AWS_PROFILE -u AWS_ENDPOINT_URL \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    AWS_DEFAULT_REGION=$(REGION) $(abspath $(BIN))/chalice package --stage $(STAGE)
package: $(VENV_STAMP)
	@rm -rf functions/vendor functions/nightly/vendor $(PACKAGE_DIR)
	@mkdir -p functions/vendor/content functions/nightly/vendor $(PACKAGE_DIR)
	@echo "==> API: vendoring the core and the reference content into functions/vendor"
	@cp -R src/gridportal functions/vendor/gridportal
	@cd functions/vendor/gridportal && rm -f $(API_OMITS)
	@echo "==> API: the redactor's jieba, trimmed to its dictionary and HMM"
	@jieba=$$($(BIN)/python -c 'import importlib.util as u; print(u.find_spec("jieba").submodule_search_locations[0])') \
	    && mkdir -p functions/vendor/jieba/finalseg \
	    && for f in $(API_JIEBA); do cp "$$jieba/$$f" "functions/vendor/jieba/$$f"; done
	@cp -R content/district.json content/calendar functions/vendor/content/
	@echo "==> nightly: vendoring the core, content, theme and site settings"
	@cp -R src/gridportal functions/nightly/vendor/gridportal
	@for dir in content site themes; do cp -R $$dir functions/nightly/vendor/; done
	@find functions/vendor functions/nightly/vendor -name __pycache__ -type d -prune \
	    -exec rm -rf {} +
	@echo "==> chalice package --stage $(STAGE) (region $(REGION), no credentials)"
	@cd functions && $(CHALICE_PACKAGE) $(abspath $(PACKAGE_DIR))
	@cd functions/nightly && $(CHALICE_PACKAGE) $(abspath $(PACKAGE_DIR))/nightly
	@echo "==> bytecode into both bundles (a cold start compiles nothing)"
	@$(BIN)/python scripts/compile_bundle.py $(PACKAGE_DIR)
	@$(BIN)/python scripts/compile_bundle.py $(PACKAGE_DIR)/nightly
	@echo "==> $(PACKAGE_DIR)/: the API's sam.json and deployment.zip;" \
	    "$(PACKAGE_DIR)/nightly/: the nightly build's (next: docs/deployment.md)"

clean:
	rm -rf $(VENV) var output build functions/vendor functions/nightly/vendor
