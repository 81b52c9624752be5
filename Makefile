# One front door. `make help` lists every target.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
SCAN_VENV := .venv-scan
BIN := $(CURDIR)/$(VENV)/bin
# The pinned Node 22 and CDK CLI from package.json come first, then the venv.
export PATH := $(CURDIR)/node_modules/.bin:$(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PORT ?= 3000
OUTPUTS ?= local-outputs.json
CDK_OUT ?= cdk.out
REPORTS ?= reports
# 1: a security gate that could not check (no vulnerability service) fails `make scan`, as in the
# pipeline (buildspec.yml sets it); 0: it is reported NOT CHECKED and the run goes on.
SCAN_STRICT ?= 0
export SCAN_STRICT
# `make report BASELINE=old/report.json`: the review lists what is new since that report first.
BASELINE ?=

INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed
SCAN_INSTALLED := $(SCAN_VENV)/.installed

.PHONY: help preflight install install-browser lint format typecheck unit synth nag cfn-lint checkov scan-templates scan secrets-baseline report pipeline-iam test local local-show verify verify-deployed upload rehearse bench openapi clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# Every pip install below reads a hash lock (docs/supply-chain.md): pip refuses a file whose
# sha256 is not in it. Each venv first replaces the pip it was created with by the locked one
# (requirements-pip.lock: a newer pip installs these locks about twice as fast as 3.11's).
PIP_LOCKED := -m pip install --quiet --require-hashes -r

$(INSTALLED): requirements-pip.lock requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP_LOCKED) requirements-pip.lock
	$(BIN)/python $(PIP_LOCKED) requirements-dev.lock
	touch $@

$(NODE_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_INSTALLED): requirements-pip.lock requirements-checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_LOCKED) requirements-pip.lock
	$(CHECKOV_VENV)/bin/python $(PIP_LOCKED) requirements-checkov.lock
	touch $@

$(SCAN_INSTALLED): requirements-pip.lock requirements-scan.lock
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python $(PIP_LOCKED) requirements-pip.lock
	$(SCAN_VENV)/bin/python $(PIP_LOCKED) requirements-scan.lock
	touch $@

# The locks from the requirements*.txt a person edits (docs/supply-chain.md), with uv from
# requirements-dev.txt. Universal (markers for every Python from 3.11: 3.11 here, 3.13 in
# CodeBuild); a version already locked stays unless LOCK_ARGS=--upgrade (or
# --upgrade-package NAME). The verifier's lock is held to the dev lock's versions, so the tests
# run what the verify steps install. The Lambda's: its pins only (bundled with --no-deps), with
# the hash of every file of each release, the aarch64 wheels included.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --custom-compile-command 'make lock' $(LOCK_ARGS)
LOCK_ARGS ?=

.PHONY: lock
lock: $(INSTALLED) ## Regenerate the hash locks (*.lock) from requirements*.txt; LOCK_ARGS=--upgrade to bump
	$(UV_COMPILE) --universal --python-version 3.11 requirements-pip.txt -o requirements-pip.lock
	$(UV_COMPILE) --universal --python-version 3.11 requirements-dev.txt -o requirements-dev.lock
	$(UV_COMPILE) --universal --python-version 3.11 requirements-verify.txt -c requirements-dev.lock -o requirements-verify.lock
	$(UV_COMPILE) --universal --python-version 3.11 requirements-checkov.txt -o requirements-checkov.lock
	$(UV_COMPILE) --universal --python-version 3.11 requirements-scan.txt -o requirements-scan.lock
	$(UV_COMPILE) --no-deps --python-version 3.13 --python-platform aarch64-manylinux2014 lambda/requirements.txt -o lambda/requirements.lock
	$(UV_COMPILE) --no-deps --python-version 3.9 --python-platform aarch64-manylinux2014 lambda/requirements-py39.txt -o lambda/requirements-py39.lock

install: $(INSTALLED) $(NODE_INSTALLED) $(CHECKOV_INSTALLED) $(SCAN_INSTALLED) install-browser ## Install pinned Python deps, the pinned CDK CLI + Node 22, checkov, the security gates' tools, Chromium

# Chromium renders the review report in a test. Debian's package, as root, only when none works;
# elsewhere (Ubuntu's is a snap, which does not run in a container) say so: the test then
# reports itself SKIPPED with the reason, it never passes without a browser.
install-browser: ## Chromium for the review report's browser test (Debian: apt-get install chromium, as root)
	@if $(PYTHON) -m tools.pipeline_checks.review.browser >/dev/null 2>&1; then \
		echo "install-browser: $$($(PYTHON) -m tools.pipeline_checks.review.browser)"; \
	elif [ "$$(id -u)" = 0 ] && grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
			&& echo "install-browser: installed Debian's chromium"; } \
		|| echo "install-browser: NO CHROMIUM: apt-get install chromium failed; the report's browser test will be SKIPPED" >&2; \
	else \
		echo "install-browser: NO CHROMIUM: install one (or set CHROMIUM=...); the report's browser test will be SKIPPED" >&2; \
	fi

lint: $(INSTALLED) ## ruff lint + format check, mypy
	ruff check .
	ruff format --check .
	mypy main.py stages tools lambda/upload_api

format: $(INSTALLED) ## Apply ruff fixes and formatting
	ruff check --fix .
	ruff format .

unit: $(INSTALLED) $(NODE_INSTALLED) $(SCAN_INSTALLED) ## All pytest layers: unit, template, handler-on-moto, e2e on a local server
	pytest --junitxml=$(REPORTS)/junit/pytest.xml

synth: $(INSTALLED) $(NODE_INSTALLED) ## cdk synth (bundles the Lambda without Docker) into cdk.out/, then the cdk-nag gate
	cdk synth --quiet --output $(CDK_OUT)
	# The locked Node tools self-mutation and asset publishing install (`npm ci`; stages/pipeline/stack.py).
	mkdir -p $(CDK_OUT)/pipeline-tools && cp package.json package-lock.json $(CDK_OUT)/pipeline-tools/
	python -m tools.pipeline_checks.nag_gate $(CDK_OUT)
	python -m tools.pipeline_checks.pipeline_iam check $(CDK_OUT)

# Self-mutation applies the pipeline stack's IAM unapproved: `make synth` fails on any permission of it
# not in bootstrap/pipeline-iam.reviewed.json. After reviewing a change, rewrite the file and commit it.
pipeline-iam: $(INSTALLED) $(NODE_INSTALLED) ## Rewrite bootstrap/pipeline-iam.reviewed.json from a fresh synth (review its diff)
	cdk synth --quiet --output $(CDK_OUT)
	python -m tools.pipeline_checks.pipeline_iam update $(CDK_OUT)

cfn-lint: ## cfn-lint on the synthesized templates (run after synth)
	cfn-lint $(CDK_OUT)/*.template.json $(CDK_OUT)/assembly-*/*.template.json

checkov: $(CHECKOV_INSTALLED) ## checkov on the synthesized templates (run after synth)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		--directory $(CDK_OUT) --skip-path 'asset\.'

scan-templates: cfn-lint checkov ## Both template scanners

scan: $(INSTALLED) $(SCAN_INSTALLED) ## Security gates: secrets, bandit, pip-audit, SBOMs (reports/gates, reports/sbom)
	python -m tools.pipeline_checks.gates --out $(REPORTS)/gates

secrets-baseline: $(INSTALLED) $(SCAN_INSTALLED) ## Refresh .secrets.baseline (keeps audit labels); then audit new entries
	python -m tools.pipeline_checks.gates.secrets_scan --update-baseline

report: $(INSTALLED) $(CHECKOV_INSTALLED) ## Security review of cdk.out (after synth): reports/review/report.{html,md,json}
	python -m tools.pipeline_checks.review $(CDK_OUT) --out $(REPORTS)/review --gates $(REPORTS)/gates/summary.json \
		$(if $(BASELINE),--baseline $(BASELINE))

# The same targets as buildspec.yml's install + build commands, then its `finally` (tests/infra/test_pipeline.py).
test: install lint unit synth scan-templates scan report ## Everything CI runs: lint, tests, synth + cdk-nag, cfn-lint, checkov, gates, review

local: $(INSTALLED) $(NODE_INSTALLED) ## Serve the API on 127.0.0.1:$(PORT) with S3/DynamoDB/KMS emulated by moto
	python -m tools.dev.local --port $(PORT) --outputs $(OUTPUTS)

# What the running `make local` stored, read from its emulated AWS with dummy credentials.
local-show: $(INSTALLED) ## While `make local` runs: the objects and items it stored (OUTPUTS=...)
	@python -m tools.dev.local.show --outputs $(OUTPUTS)

# The post-deploy verifier (tools/pipeline_checks/verify). MODE=dev uploads one file and floods above the stage
# limit; MODE=prod does neither unless VERIFY_ARGS says --write / --load. THROTTLE_RATE and
# THROTTLE_BURST, when set, are the limits to expect (start `make local` with the same ones).
verify: $(INSTALLED) ## Verify a running API: OUTPUTS=local-outputs.json MODE=dev|prod VERIFY_ARGS=...
	python -m tools.pipeline_checks.verify --mode $(or $(MODE),dev) --outputs $(OUTPUTS) $(VERIFY_ARGS)

# The pipeline's verify steps run this in CodeBuild: system python3, only the verifier's pins,
# the target from API_URL/UPLOAD_ENDPOINT/STACK_NAME, run as VERIFIER_ROLE_ARN (the stage's VerifierRole)
# when set. No default MODE: prod must never get dev's flood.
verify-deployed: ## Pipeline post-deploy check: MODE=dev|prod, target from API_URL/UPLOAD_ENDPOINT/STACK_NAME
	@test -n "$(MODE)" || { echo "make verify-deployed: set MODE=dev or MODE=prod" >&2; exit 2; }
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) $(PIP_LOCKED) requirements-verify.lock
	$(PYTHON) -m tools.pipeline_checks.verify --mode $(MODE) $(VERIFY_ARGS)

# Each stage's first pipeline action (stages/pipeline/preflight.py): what the stage's account must offer
# (Lambda concurrency for its reservations, the CDK bootstrap, the API Gateway CloudWatch role, GuardDuty
# Malware Protection), read through the account's lookup role; the stage's needs come from the environment.
preflight: ## Pipeline preflight of a stage's account (needs AWS): STAGE, STACK_NAME, RESERVED_CONCURRENCY... from the step
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) $(PIP_LOCKED) requirements-verify.lock
	$(PYTHON) -m tools.pipeline_checks.preflight

# One upload with the client (tools/dev/upload): the running `make local` (OUTPUTS), or URL= a deployment,
# signed with your default AWS credentials. Prints the 201 body, or the error with its fields.
upload: $(INSTALLED) ## Upload a file: FILE=... PRODUCT_ID=... PRODUCT_NAME=... PRICE=... [CONTENT_TYPE=...] [URL=...]
	@test -n "$(FILE)" -a -n "$(PRODUCT_ID)" -a -n "$(PRODUCT_NAME)" -a -n "$(PRICE)" || \
		{ echo "make upload: set FILE, PRODUCT_ID, PRODUCT_NAME and PRICE (CONTENT_TYPE, URL optional)" >&2; exit 2; }
	python -m tools.dev.upload "$(FILE)" --product-id "$(PRODUCT_ID)" --product-name "$(PRODUCT_NAME)" \
		--price "$(PRICE)" $(if $(CONTENT_TYPE),--content-type "$(CONTENT_TYPE)") \
		$(if $(URL),--url "$(URL)",--outputs "$(OUTPUTS)")

# The pipeline, action by action, against moto on loopback (docs/rehearsal.md): reports/rehearsal/.
rehearse: synth ## Run every pipeline action in order against moto: table + reports/rehearsal/summary.json
	python -m tools.review_kit.rehearse --cdk-out $(CDK_OUT) --out $(REPORTS)/rehearsal

bench: $(INSTALLED) ## Cold-init and 4 MiB upload CPU ratios; the load generator's offered rate; the local gateway's answered rate
	python -m tools.dev.bench

openapi: $(INSTALLED) ## Regenerate docs/openapi.json from the request schema and validate it (OpenAPI 3)
	python -m tools.dev.openapi

clean: ## Remove build output (keeps the venvs)
	rm -rf $(CDK_OUT) .pytest_cache .mypy_cache .ruff_cache .hypothesis $(OUTPUTS)
	find . -name __pycache__ -not -path './.venv*' -not -path './node_modules/*' -prune -exec rm -rf {} +
