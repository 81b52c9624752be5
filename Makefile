# One front door. `make help` lists every target.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
# What uv installs outside the project venv: uv itself, and checkov (whose pins conflict with .venv's).
TOOLS := .venv-tools
BIN := $(CURDIR)/$(VENV)/bin
UV := $(CURDIR)/$(TOOLS)/uv/bin/uv
CHECKOV := $(CURDIR)/$(TOOLS)/checkov/bin/checkov
# The pinned Node 22 and CDK CLI from package.json come first, then the venv.
export PATH := $(CURDIR)/node_modules/.bin:$(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_ROOT_USER_ACTION := ignore
# mypy's incremental cache beside uv's and npm's, outside the clone: a fresh clone's `make lint`
# then takes seconds, not minutes (a cold mypy reads all of aws-cdk-lib and moto).
export MYPY_CACHE_DIR ?= $(HOME)/.cache/mypy
# uv makes .venv with this interpreter and never downloads one of its own.
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
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

# Each stamp says a part of uv.lock is installed (docs/supply-chain.md). uv.lock is the one
# Python lock: every group's packages with the sha256 of each file, checked by uv on install.
UV_INSTALLED := $(TOOLS)/uv/.installed
INSTALLED := $(VENV)/.installed
LOCAL_INSTALLED := $(VENV)/.installed-local
VERIFY_INSTALLED := $(VENV)/.installed-verify
NODE_INSTALLED := node_modules/.installed
CHECKOV_INSTALLED := $(TOOLS)/checkov/.installed

.PHONY: help preflight verify-dependencies install install-browser lint format typecheck unit synth nag cfn-lint checkov scan-templates scan secrets-baseline report pipeline-iam test local local-show local-template verify verify-deployed upload rehearse emulator-coverage bench openapi approver-policy approved-change-set bootstrap-template bootstrap-policies clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# uv first: pip installs the uv that uv.lock pins, --require-hashes with uv.lock's hashes for it.
$(UV_INSTALLED): uv.lock
	$(PYTHON) -m tools.common.locked_uv $(TOOLS)/uv
	touch $@

# `uv sync --locked` installs from uv.lock (and fails if pyproject.toml changed since `make lock`),
# checking every file against the lock's sha256. A part (--inexact) leaves the rest installed;
# the whole (`make install`: every group but checkov) also removes what the lock no longer has.
UV_SYNC = $(UV) sync --locked --no-install-project
$(INSTALLED): uv.lock pyproject.toml $(UV_INSTALLED)
	@echo "== .venv: every group but checkov from uv.lock (dev, scan; about 1 GB on a first install)"
	$(UV_SYNC) --only-group dev --only-group scan
	touch $@ $(LOCAL_INSTALLED) $(VERIFY_INSTALLED)

$(LOCAL_INSTALLED): uv.lock pyproject.toml $(UV_INSTALLED)
	@echo "== .venv: the local group from uv.lock (the handler, moto, the gateway's server; about 120 MB on a first install)"
	$(UV_SYNC) --inexact --only-group local
	touch $@

$(VERIFY_INSTALLED): uv.lock pyproject.toml $(UV_INSTALLED)
	@echo "== .venv: the verify group from uv.lock (boto3, httpx, aiohttp)"
	$(UV_SYNC) --inexact --only-group verify
	touch $@

$(NODE_INSTALLED): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# checkov's own environment, made by uv from the lock's checkov group (its boto3 1.35 conflicts with .venv's).
$(CHECKOV_INSTALLED): uv.lock pyproject.toml $(UV_INSTALLED)
	@echo "== $(TOOLS)/checkov: the checkov group from uv.lock"
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(TOOLS)/checkov $(UV_SYNC) --only-group checkov
	touch $@

# uv.lock from pyproject.toml, whose cdk and lambda groups are first rewritten from requirements.txt
# and lambda/requirements.txt (the files a person edits; docs/supply-chain.md). Universal: one
# resolution for every Python from 3.11 (3.11 here, 3.13 in CodeBuild) and every platform; a
# version already locked stays unless LOCK_ARGS=--upgrade (or --upgrade-package NAME). The
# Lambda's own locks: its pins only (bundled with --no-deps), with the hash of every file of each
# release, the aarch64 wheels included (stages/upload/bundling.py installs them).
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --custom-compile-command 'make lock' $(LOCK_ARGS)
LOCK_ARGS ?=

.PHONY: lock
lock: $(UV_INSTALLED) ## Regenerate uv.lock and the Lambda's locks from the pins; LOCK_ARGS=--upgrade to bump
	$(PYTHON) -m tools.dev.dependency_groups
	$(UV) lock $(LOCK_ARGS)
	$(UV_COMPILE) --no-deps --python-version 3.13 --python-platform aarch64-manylinux2014 lambda/requirements.txt -o lambda/requirements.lock
	$(UV_COMPILE) --no-deps --python-version 3.9 --python-platform aarch64-manylinux2014 lambda/requirements-py39.txt -o lambda/requirements-py39.lock

install: $(INSTALLED) $(NODE_INSTALLED) $(CHECKOV_INSTALLED) install-browser ## Install every locked Python group, the pinned CDK CLI + Node 22, checkov, Chromium

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

# pytest-xdist: two workers (CodeBuild MEDIUM's 7 GB holds two synthesizing workers with headroom;
# tests/infra/test_build_budget.py), each test file on one worker (its module fixtures built once);
# PYTEST_WORKERS=0 runs every test in this process.
PYTEST_WORKERS ?= 2
unit: $(INSTALLED) $(NODE_INSTALLED) ## All pytest layers: unit, template, handler-on-moto, e2e on a local server
	pytest -n $(PYTEST_WORKERS) --dist loadfile --junitxml=$(REPORTS)/junit/pytest.xml

synth: $(INSTALLED) $(NODE_INSTALLED) ## cdk synth (bundles the Lambda without Docker) into cdk.out/, then the cdk-nag gate
	# A zip cache a local `cdk publish-assets` left: the CLI would publish it in place of the assets,
	# and PipelineChangeGate refuses an artifact that holds one.
	rm -rf $(CDK_OUT)/.cache
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
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation \
		--directory $(CDK_OUT) --skip-path 'asset\.'

# The build's gate: both scanners side by side, their JSON in reports/scanners (read by `make report`).
scan-templates: $(INSTALLED) $(CHECKOV_INSTALLED) ## cfn-lint and checkov on cdk.out, side by side; fails on any unexplained finding
	python -m tools.pipeline_checks.scan_templates $(CDK_OUT) --out $(REPORTS)/scanners

scan: $(INSTALLED) ## Security gates: secrets, bandit, pip-audit, SBOMs (reports/gates, reports/sbom)
	python -m tools.pipeline_checks.gates --out $(REPORTS)/gates

secrets-baseline: $(INSTALLED) ## Refresh .secrets.baseline (keeps audit labels); then audit new entries
	python -m tools.pipeline_checks.gates.secrets_scan --update-baseline

report: $(INSTALLED) $(CHECKOV_INSTALLED) ## Security review of cdk.out (after synth): reports/review/report.{html,md,json}
	python -m tools.pipeline_checks.review $(CDK_OUT) --out $(REPORTS)/review --gates $(REPORTS)/gates/summary.json \
		--scans $(REPORTS)/scanners \
		$(if $(BASELINE),--baseline $(BASELINE))

# buildspec.yml's install + build commands, then its `finally`, read from it and each timed; the record
# lets `make rehearse` stand on this run for the Synth action (tools/review_kit/rehearse/reuse.py).
test: install ## Everything CI runs: buildspec.yml's commands (lint, tests, synth + cdk-nag, scanners, gates, review), timed
	python -m tools.review_kit.rehearse.make_test --record $(REPORTS)/make-test.json

# Local mode installs only the local group: it reads the upload stack's template from
# tools/dev/local/template.json, no CDK and no Node. After a change to what synthesizes that stack
# (stages/, cdk.json, requirements.txt) the file is stale, and the first `make local` rewrites it
# (which installs the rest: `make local-template`).
# Byte code goes to .venv-tools/pycache (never beside lambda/'s sources, the asset; not in .venv,
# which uv must find empty to create): the next start skips compiling.
local: export PYTHONDONTWRITEBYTECODE :=
local: export PYTHONPYCACHEPREFIX := $(CURDIR)/$(TOOLS)/pycache
local: $(LOCAL_INSTALLED) ## Serve the API on 127.0.0.1:$(PORT) with S3/DynamoDB/KMS emulated by moto
	@$(PYTHON) -m tools.dev.local.template --check || $(MAKE) --no-print-directory local-template
	python -m tools.dev.local --port $(PORT) --outputs $(OUTPUTS)

# What the running `make local` stored, read from its emulated AWS with dummy credentials.
local-show: $(LOCAL_INSTALLED) ## While `make local` runs: the objects and items it stored (OUTPUTS=...)
	@python -m tools.dev.local.show --outputs $(OUTPUTS)

local-template: $(INSTALLED) $(NODE_INSTALLED) ## Rewrite tools/dev/local/template.json (the upload stack local mode serves) from a synth
	python -m tools.dev.local.template --write

# The post-deploy verifier (tools/pipeline_checks/verify). MODE=dev uploads one file and floods above the stage
# limit; MODE=prod does neither unless VERIFY_ARGS says --write / --load. THROTTLE_RATE and
# THROTTLE_BURST, when set, are the limits to expect (start `make local` with the same ones).
verify: $(VERIFY_INSTALLED) ## Verify a running API: OUTPUTS=local-outputs.json MODE=dev|prod VERIFY_ARGS=...
	python -m tools.pipeline_checks.verify --mode $(or $(MODE),dev) --outputs $(OUTPUTS) $(VERIFY_ARGS)

# The pipeline's verify steps run this in CodeBuild: system python3, only the verifier's pins (uv.lock's
# verify group, exported with its hashes; pip --require-hashes),
# the target from API_URL/UPLOAD_ENDPOINT/STACK_NAME, run as VERIFIER_ROLE_ARN (the stage's VerifierRole)
# when set. No default MODE: prod must never get dev's flood.
verify-deployed: ## Pipeline post-deploy check: MODE=dev|prod, target from API_URL/UPLOAD_ENDPOINT/STACK_NAME
	@test -n "$(MODE)" || { echo "make verify-deployed: set MODE=dev or MODE=prod" >&2; exit 2; }
	$(MAKE) --no-print-directory verify-dependencies
	$(PYTHON) -m tools.pipeline_checks.verify --mode $(MODE) $(VERIFY_ARGS)

# What the pipeline's verify and preflight steps install into CodeBuild's python3: the verify group.
verify-dependencies: $(UV_INSTALLED)
	$(UV) export --locked --only-group verify --no-emit-project --quiet -o $(TOOLS)/verify-requirements.txt
	$(PYTHON) -m pip install --require-hashes -r $(TOOLS)/verify-requirements.txt

# Each stage's first pipeline action (stages/pipeline/preflight.py): what the stage's account must offer
# (Lambda concurrency for its reservations, the CDK bootstrap, the API Gateway CloudWatch role, GuardDuty
# Malware Protection), read through the account's lookup role; the stage's needs come from the environment.
preflight: verify-dependencies ## Pipeline preflight of a stage's account (needs AWS): STAGE, STACK_NAME, RESERVED_CONCURRENCY... from the step
	$(PYTHON) -m tools.pipeline_checks.preflight

# Between prod's approval and its deploy (stages/pipeline/approved_change_set.py): the change set about to be
# executed is the one whose id the approver pasted into the approval's comment. The pipeline runs its own
# deployed copy of this file (inlined into the step's buildspec); this target runs the working tree's by hand.
approved-change-set: ## Prod's change set is the approved one, by hand (needs AWS and its CLI); PIPELINE_EXECUTION_ID... as the step sets them
	$(PYTHON) stages/pipeline/approved_change_set_check.py

# One upload with the client (tools/dev/upload): the running `make local` (OUTPUTS), or URL= a deployment,
# signed with your default AWS credentials. Inline up to 4 MiB, else straight to S3 (streamed);
# prints the stored item (the 201 body, or the item the direct upload became), or the error with its fields.
upload: $(VERIFY_INSTALLED) ## Upload a file: FILE=... PRODUCT_ID=... PRODUCT_NAME=... PRICE=... [CONTENT_TYPE=...] [URL=...]
	@test -n "$(FILE)" -a -n "$(PRODUCT_ID)" -a -n "$(PRODUCT_NAME)" -a -n "$(PRICE)" || \
		{ echo "make upload: set FILE, PRODUCT_ID, PRODUCT_NAME and PRICE (CONTENT_TYPE, URL optional)" >&2; exit 2; }
	python -m tools.dev.upload "$(FILE)" --product-id "$(PRODUCT_ID)" --product-name "$(PRODUCT_NAME)" \
		--price "$(PRICE)" $(if $(CONTENT_TYPE),--content-type "$(CONTENT_TYPE)") \
		$(if $(URL),--url "$(URL)",--outputs "$(OUTPUTS)")

# The pipeline, action by action, against moto on loopback (docs/rehearsal.md): reports/rehearsal/.
# REHEARSE_ARGS=--rerun-synth runs the Synth commands even when `make test` just ran them.
# REHEARSE_SYNTH= skips the synth when cdk.out is this commit's (.ci/run, right after `make test`).
REHEARSE_SYNTH ?= synth
rehearse: $(REHEARSE_SYNTH) ## Run every pipeline action in order against moto: table + reports/rehearsal/summary.json
	python -m tools.review_kit.rehearse --cdk-out $(CDK_OUT) --out $(REPORTS)/rehearsal \
		--make-test-record $(REPORTS)/make-test.json $(REHEARSE_ARGS)

# moto against MiniStack on our three templates (docs/rehearsal.md, "Why moto: measured against
# MiniStack"). MiniStack pins botocore below the project's groups: uv installs the lock's ministack
# group apart, in .venv-tools/ministack, as it does checkov; its server listens on loopback only.
MINISTACK := $(TOOLS)/ministack
MINISTACK_PORT ?= 4599
$(MINISTACK)/.installed: uv.lock pyproject.toml $(UV_INSTALLED)
	@echo "== $(MINISTACK): the ministack group from uv.lock"
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(MINISTACK) $(UV_SYNC) --only-group ministack
	touch $@

emulator-coverage: $(INSTALLED) $(MINISTACK)/.installed ## What moto and MiniStack create as written from cdk.out (make synth first)
	python -m tools.review_kit.rehearse.emulator_coverage --cdk-out $(CDK_OUT) --by-type
	work=$$(mktemp -d); BIND_HOST=127.0.0.1 GATEWAY_PORT=$(MINISTACK_PORT) MINISTACK_ACCOUNT_ID=123456789012 \
		TMPDIR=$$work S3_DATA_DIR=$$work/s3 $(MINISTACK)/bin/python -m ministack >$$work/ministack.log 2>&1 & \
		server=$$!; trap 'kill $$server' EXIT; \
		for _ in $$(seq 60); do curl -sf http://127.0.0.1:$(MINISTACK_PORT)/_ministack/health >/dev/null && break; sleep 0.5; done; \
		python -m tools.review_kit.rehearse.emulator_coverage --cdk-out $(CDK_OUT) --by-type \
			--endpoint http://127.0.0.1:$(MINISTACK_PORT)

# The locked CLI's bootstrap template with the stage accounts' trust narrowed to the pipeline's roles
# (docs/bootstrap.md); a test fails when the committed file is not what this writes.
bootstrap-template: $(INSTALLED) $(NODE_INSTALLED) ## Rewrite bootstrap/cdk/bootstrap-template.json from the locked CDK CLI's template
	python -m tools.dev.bootstrap_template

# Each bootstrap's guardrail policies (the pipeline's, dev's, prod's: docs/bootstrap.md), derived from
# the base files bootstrap/*.json; a test fails when bootstrap/generated/ is not what this writes.
bootstrap-policies: $(INSTALLED) ## Rewrite bootstrap/generated/<set>/*.json from bootstrap/*.json and cdk.json's qualifiers
	python -m tools.dev.bootstrap_policies

bench: $(INSTALLED) ## Cold-init and 4 MiB upload CPU ratios; the load generator's offered rate; the local gateway's answered rate
	python -m tools.dev.bench

openapi: $(INSTALLED) ## Regenerate docs/openapi.json from the request schema and validate it (OpenAPI 3)
	python -m tools.dev.openapi

approver-policy: $(INSTALLED) ## Rewrite docs/approver-policy.json from the approver role's policy (stages/pipeline/approvals.py)
	python -m stages.pipeline.approvals

clean: ## Remove build output (keeps the venvs)
	rm -rf $(CDK_OUT) .pytest_cache .mypy_cache .ruff_cache .hypothesis $(OUTPUTS)
	find . -name __pycache__ -not -path './.venv*' -not -path './node_modules/*' -prune -exec rm -rf {} +
