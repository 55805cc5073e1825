# Two commands on a fresh machine: `make synth` and `make test`. Everything else builds on them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ENV ?= dev
PYTHON ?= python3
VENV := .venv
MLFLOW_VENV := .venv-mlflow
MONITORING_VENV := .venv-monitoring
PY := $(VENV)/bin/python
STAMPS := .make
CDK := npx --no-install cdk

# Node.js for the CDK CLI and jsii: $(NODE_LTS) is the LTS line to use; $(NODE_MIN) (end of life since
# 2026-10-30) still runs, with a warning from `prerequisites` instead of jsii's banner.
NODE_LTS := 22
NODE_MIN := 20

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

comma := ,

.PHONY: help prerequisites synth check-config snapshots test test-fast lint format deploy publish-code lock diff bootstrap \
	bench clean synth-delivery bootstrap-delivery deploy-delivery promote redrive replay destroy remove-model new-model

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

prerequisites:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or newer (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "error: $$($(PYTHON) --version) is too old; install Python 3.11 or newer (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { echo "error: the venv module is missing; install python3-venv for your Python"; exit 1; }
	@command -v node >/dev/null || { echo "error: node not found; install Node.js $(NODE_LTS) LTS (https://nodejs.org) for the AWS CDK CLI"; exit 1; }
	@major=$$(node -p 'process.versions.node.split(".")[0]'); \
	if [ "$$major" -lt $(NODE_MIN) ]; then echo "error: Node.js $$(node --version) is too old; install Node.js $(NODE_LTS) LTS"; exit 1; fi; \
	if [ "$$major" -lt $(NODE_LTS) ]; then echo "warning: Node.js $$(node --version) is end of life (since 2026-10-30, as jsii reports); it still works, but install Node.js $(NODE_LTS) LTS"; fi
	@command -v npm >/dev/null || { echo "error: npm not found; install npm (it ships with Node.js)"; exit 1; }

# A first install takes minutes with nothing on screen from pip's --quiet: each stage says what it
# builds and about how long that takes (rough figures for 2 cores; the network decides the rest).
stage = @echo "==> $(1) (about $(2) on a first install)"

# Each environment checks the prerequisites when it is (re)built, not on every make run.
$(STAMPS)/venv: requirements.txt requirements-dev.txt
	@$(MAKE) --no-print-directory prerequisites
	@mkdir -p $(STAMPS)
	$(call stage,.venv: CDK$(comma) cdk-nag$(comma) test and lint tools from requirements-dev.txt,1-2 minutes)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@echo "==> .venv ready"
	@touch $@

# The real MLflow server and the example training code: large, so in a venv of its own. MLflow
# is the client version stacks/mlflow_clients.py pins for the server version of the tests'
# fixture (tests/fixtures/platform.json, dev), not of the user's cdk.json: the suite's
# expectations stay the same whatever server version a user configures.
$(STAMPS)/mlflow-venv: requirements-mlflow.txt stacks/mlflow_clients.py tests/fixtures/platform.json $(STAMPS)/venv
	@$(MAKE) --no-print-directory prerequisites
	@mkdir -p $(STAMPS)
	$(call stage,.venv-mlflow: MLflow server$(comma) scikit-learn for the real-MLflow tests (about 850 MB),3-5 minutes)
	$(PYTHON) -m venv --clear $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	pins="$$($(PY) -m stacks.mlflow_clients --env dev --platform-json tests/fixtures/platform.json)" && \
		env $$pins $(MLFLOW_VENV)/bin/python -m pip install --quiet -r requirements-mlflow.txt
	@echo "==> .venv-mlflow ready"
	@touch $@

# Evidently for the monitoring job's tests (tests/jobs/test_monitor_model.py runs the job in it): the
# version the monitoring lock pins, with the processing image's scientific stack.
$(STAMPS)/monitoring-venv: requirements-monitoring.txt
	@$(MAKE) --no-print-directory prerequisites
	@mkdir -p $(STAMPS)
	$(PYTHON) -m venv --clear $(MONITORING_VENV)
	$(MONITORING_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MONITORING_VENV)/bin/python -m pip install --quiet -r requirements-monitoring.txt
	@touch $@

$(STAMPS)/node: package.json package-lock.json
	@$(MAKE) --no-print-directory prerequisites
	@mkdir -p $(STAMPS)
	$(call stage,node_modules: the pinned AWS CDK CLI (package-lock.json),30 seconds)
	npm ci --no-audit --no-fund --loglevel=error
	@echo "==> node_modules ready"
	@touch $@

# app.py prints CDK's warnings and fails on its errors, as `cdk synth` would, in less time
# than the CLI (which starts Node and then the same Python app).
synth: $(STAMPS)/venv $(STAMPS)/node ## Synthesize every stack of ENV (default dev) into cdk.out/, with CDK's warnings
	PLATFORM_ENV=$(ENV) $(PY) app.py

# Your cdk.json, every environment (or ENV=name): validated, synthesized with cdk-nag, linted with
# cfn-lint, and compared with config-snapshots/<env>/; UPDATE=1 accepts the new templates.
check-config: $(STAMPS)/venv ## Check your cdk.json (every environment, or ENV=...); UPDATE=1 accepts its snapshots
	$(PY) -m tools.check_config $(if $(filter command line,$(origin ENV)),--env $(ENV)) $(if $(UPDATE),--update)

# The test snapshots (tests/infra/__snapshots__) of the fixture platforms: rewrite them, then read
# `git diff tests/infra/__snapshots__` and commit only the changes you meant.
snapshots: $(STAMPS)/venv ## Rewrite the test snapshots after an intended template change (review with git diff)
	$(PY) -m pytest tests/infra/test_snapshots.py -n 0 --snapshot-update
	@git diff --stat -- tests/infra/__snapshots__ || true

# pytest rewrites each test module's asserts (for its failure messages) and keeps the result in
# __pycache__, unless PYTHONDONTWRITEBYTECODE is set, as some containers and CI images do: then
# every worker rewrites every module again, about 4 s per run. The suite lets Python write them
# (__pycache__ is ignored by git and left out of the Lambda asset).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -n 2 --dist loadgroup

test: $(STAMPS)/venv $(STAMPS)/mlflow-venv $(STAMPS)/monitoring-venv $(STAMPS)/node ## Run the whole test suite
	$(PYTEST)

test-fast: $(STAMPS)/venv ## Tests without the real MLflow server and the Evidently environment
	$(PYTEST) -m "not mlflow and not monitoring"

lint: $(STAMPS)/venv ## ruff (lint + format check) and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMPS)/venv ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bootstrap: $(STAMPS)/venv $(STAMPS)/node ## cdk bootstrap the account/region of your AWS credentials
	$(CDK) bootstrap --no-notices -c env=$(ENV)

deploy: $(STAMPS)/venv $(STAMPS)/node ## Deploy ENV to the account of your AWS credentials
	@mkdir -p outputs
	$(CDK) deploy --no-notices -c env=$(ENV) --all --require-approval broadening --outputs-file outputs/$(ENV).json

# The delivery pipeline (platform.delivery in cdk.json): every environment as a stage of one
# self-mutating pipeline in the tooling account. The pipeline's own synth step runs synth-delivery.
synth-delivery: $(STAMPS)/venv $(STAMPS)/node ## Synthesize the delivery pipeline and every environment into cdk.out/
	PLATFORM_DELIVERY=true $(PY) app.py

bootstrap-delivery: $(STAMPS)/venv $(STAMPS)/node ## cdk bootstrap ENV (dev|staging|prod|tooling) for the pipeline (that account's credentials)
	@$(PY) -m tools.bootstrap_delivery --env $(ENV)

promote: $(STAMPS)/venv ## Record a promotion: ENV=staging|prod MODEL=<name> PACKAGE=<registry package ARN> (ENV's MLOpsEngineer)
	@$(PY) -m tools.promote --env "$(ENV)" --model "$(MODEL)" --package "$(PACKAGE)"

deploy-delivery: $(STAMPS)/venv $(STAMPS)/node ## Deploy the pipeline once (tooling account credentials); it then updates itself
	$(CDK) deploy --no-notices -c delivery=true --require-approval broadening "$$($(PY) -c 'import json; print(json.load(open("cdk.json"))["context"]["platform"].get("prefix", "mlops"))')-delivery"

publish-code: $(STAMPS)/venv ## Upload ml/MODEL/ and its MLflow client wheels to ENV's code location (AWS credentials)
	@test -n "$(MODEL)" || { echo "error: name the model, e.g. make publish-code ENV=dev MODEL=churn"; exit 2; }
	@$(PY) -m tools.publish_model_code --env $(ENV) --model $(MODEL)

new-model: $(STAMPS)/venv ## Scaffold ml/NAME/ from ml/churn/ and add NAME (label column TARGET) to ENV in cdk.json
	@test -n "$(NAME)" -a -n "$(TARGET)" || { echo "error: e.g. make new-model NAME=upsell TARGET=bought ENV=dev"; exit 2; }
	@$(PY) -m tools.new_model --env $(ENV) --name $(NAME) --target $(TARGET)

redrive: $(STAMPS)/venv ## Hand a DLQ's messages back to their handlers: QUEUE=events|functions [DRY_RUN=1]
	@test -n "$(QUEUE)" || { echo "error: name the queue, e.g. make redrive ENV=dev QUEUE=functions DRY_RUN=1"; exit 2; }
	@$(PY) -m tools.redrive --env $(ENV) --queue $(QUEUE) $(if $(DRY_RUN),--dry-run)

replay: $(STAMPS)/venv ## Replay archived domain events into audit + notifications: FROM=... TO=... [INCLUDE_TRIGGER=1]
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "error: give the window, e.g. make replay ENV=dev FROM=2026-11-27T00:00:00Z TO=2026-11-28T00:00:00Z"; exit 2; }
	@$(PY) -m tools.replay --env $(ENV) --from $(FROM) --to $(TO) $(if $(INCLUDE_TRIGGER),--include-trigger)

# Stacks before endpoints: while a catalog entry exists, the deployer would create a deleted endpoint again.
destroy: $(STAMPS)/venv $(STAMPS)/node ## Delete ENV: every stack, then the endpoints the deployer made [CONFIRM=<env>]
	@$(PY) -m tools.teardown --env $(ENV) --step prepare --confirm "$(CONFIRM)"
	$(CDK) destroy --no-notices -c env=$(ENV) --all --force; status=$$?; \
	$(PY) -m tools.teardown --env $(ENV) --step finish --confirm $(ENV); \
	$(PY) -m tools.teardown --env $(ENV) --step retained; exit $$status

remove-model: $(STAMPS)/venv ## Delete a model removed from cdk.json: its stack and endpoints [CONFIRM=<model>]
	@test -n "$(MODEL)" || { echo "error: name the model, e.g. make remove-model ENV=dev MODEL=churn"; exit 2; }
	@$(PY) -m tools.teardown --env $(ENV) --step remove-model --model $(MODEL) --confirm "$(CONFIRM)"

# The hashed locks the pipeline and the monitoring job install offline (ml/mlflow_client/: the MLflow
# client, and Evidently with that client); run after changing a pin in stacks/mlflow_clients.py or
# tools/client_bundle.py. Needs the package index, no AWS credentials.
lock: $(STAMPS)/venv ## Re-resolve the MLflow client and monitoring locks (ml/mlflow_client/) from the package index
	$(PY) -m tools.lock_mlflow_client

# `cdk diff` has no --all (the CLI ignores it with a warning): without stack names it compares
# every top-level stack of the app, here the stacks of ENV (aws-cdk 2.1148.1, `cdk diff --help`;
# lib/cli/cdk-toolkit.js, selectTopLevelOrMatchingStacks).
diff: $(STAMPS)/venv $(STAMPS)/node ## Show what deploy would change in ENV
	$(CDK) diff --no-notices -c env=$(ENV)

bench: $(STAMPS)/venv $(STAMPS)/mlflow-venv $(STAMPS)/node ## Benchmarks -> bench/results/latest.json
	$(PY) -m bench

clean: ## Remove build output and environments
	rm -rf cdk.out $(STAMPS) $(VENV) $(MLFLOW_VENV) $(MONITORING_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
