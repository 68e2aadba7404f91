# The two README commands: `make demo` (the nightly pipeline on embedded defaults) and
# `make test`. Each builds the virtual environments it needs from the pinned locks.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
WITH_VENV := PATH=$(CURDIR)/$(VENV)/bin:$$PATH

.PHONY: venv demo test test-fast bench airflow lock clean

venv:
	@scripts/bootstrap.sh $(VENV) requirements/lock.txt --editable
	@if [[ -f requirements/serving-lock.txt ]]; then scripts/bootstrap.sh .venv-serving requirements/serving-lock.txt; fi

demo: venv
	@$(WITH_VENV) scripts/demo.sh

test: venv
	@$(WITH_VENV) $(PY) -m pytest $(PYTEST_ARGS)

# The tier to run while working: unit tests and light integration (no servers, no real
# LLM, no end-to-end runs), spread over one pytest-xdist worker per core; `make test` (what
# CI runs) adds the tests marked slow and runs them in one process (servers, ports, timing).
test-fast: venv
	@$(WITH_VENV) $(PY) -m pytest -m "not slow" -n auto $(PYTEST_ARGS)

# Airflow on 127.0.0.1 with the DAGs loaded (ARGS=stop|status): PROFILE=standalone (SQLite,
# LocalExecutor) or PROFILE=celery (CeleryExecutor on the services of RECAUG_AIRFLOW_DB_URL,
# RECAUG_BROKER_URL and RECAUG_REDIS_URL; see README "Running at scale").
PROFILE ?= standalone
airflow: venv
	@$(WITH_VENV) AIRFLOW_PROFILE=$(PROFILE) scripts/airflow.sh $(ARGS)

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Re-resolve the direct dependencies and freeze them into requirements/lock.txt.
lock:
	@scripts/lock.sh

clean:
	rm -rf var .pytest_cache
