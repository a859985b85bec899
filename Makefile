# The two commands: `make run` and `make test`. Everything else is for developers and operators.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help deps run test test-fast test-vm lint docs settings-docs redis-schema-docs check-config install clean deploy rollback undeploy status scheduler lock chaos bench

DURATION ?= 120
SEED ?= 1
# make chaos and make bench: the store the kit coordinates through, redis, postgres or both (side by side).
BACKEND ?= both

# make deploy: as root on the VM. APP names the service, user and directories.
# PROJECT=/abs/path deploys your own project instead of the demo app/ (its requirements.lock, else
# requirements.txt, naming scheduler-proc): ASGI= (its app, shop.main:app) and JOBS= (shop.jobs:jobs)
# with it; WHEELS=<dir> is a wheelhouse for pip; HEALTH_PREFIX= where it mounts the kit's router.
# MEMORY_MAX=, TASKS_MAX=, LIMIT_NOFILE=: the unit's resource limits (docs/deploy.md).
APP ?= scheduler-demo
PROJECT ?=
ASGI ?=
JOBS ?=
WHEELS ?=
HEALTH_PREFIX ?=
PORT ?= 8000
BIND ?=
DESTDIR ?=
REDIS ?=
POSTGRES ?=
DEPLOY_PYTHON ?= /usr/bin/python3
MEMORY_MAX ?= 1G
TASKS_MAX ?= 512
LIMIT_NOFILE ?= 16384
# Passed to the shell as environment variables, never pasted into the command line: a value
# such as APP='x; rm -rf /' stays one argument, which the deploy tool then refuses. Exported to the
# deploy targets only: make exports a variable even when empty, and an empty BIND in the
# environment of `make run` would leave gunicorn listening nowhere.
# -B: the deploy tool (scheduler_proc/deploy/) runs as root; it leaves no root-owned __pycache__ here.
DEPLOY_TARGETS := deploy rollback undeploy status scheduler
DEPLOY_VARIABLES := APP PORT BIND DESTDIR REDIS POSTGRES PURGE DEPLOY_PYTHON CMD PROJECT ASGI JOBS WHEELS HEALTH_PREFIX \
  MEMORY_MAX TASKS_MAX LIMIT_NOFILE
# A variable given on make's command line outranks the Makefile and is expanded when exported:
# APP='x$$(shell ...)' would run the shell. Each becomes its own text, unexpanded, before any use.
$(foreach name,$(DEPLOY_VARIABLES),$(if $(filter command line,$(origin $(name))),\
  $(eval override $(name) := $$(value $(name)))))
$(foreach name,$(DEPLOY_VARIABLES),$(eval $(DEPLOY_TARGETS): export $(name) := $$(value $(name))))
DEPLOY = "$$DEPLOY_PYTHON" -B -m scheduler_proc.deploy --app "$$APP" --python "$$DEPLOY_PYTHON" $${DESTDIR:+--destdir "$$DESTDIR"}

# gunicorn reads WEB_CONCURRENCY with int() before any config (a traceback for 'abc'): the kit's
# config module checks its variables first, with one line naming the bad one.
GUNICORN_VARIABLES = $(BIN)/python -m scheduler_proc.gunicorn_conf >/dev/null

run: $(STAMP)  ## start the demo app with its scheduler (single host, no Redis)
	$(GUNICORN_VARIABLES)
	$(BIN)/gunicorn -c gunicorn.conf.py

help:  ## this list of targets and what each does
	@awk 'BEGIN { FS = ":[^#]*## " } /^[a-z-]+:.*## / { printf "  make %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# make test, test-vm, chaos and bench run it first, so a fresh machine needs nothing else.
deps:  ## the system programs the tests need, with apt-get as root when missing: redis-server, redis-sentinel, PostgreSQL, openssl, chromium, promtool (package prometheus)
	scripts/ensure-test-deps

# Two pytest workers, a test file each at a time (a file's module fixtures, such as the deploy
# tests' service user, stay in one process): the tests mostly wait on servers and clocks, so
# two at once halve the time on 2 cores. PYTEST_ARGS="-n 0" runs them one by one.
test: $(STAMP) deps  ## set up what the tests need (venv, Redis) and run them all
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-vm: $(STAMP) deps  ## as root: make deploy on Debian 12 hosts under real systemd (nspawn), 1 and 3+1 hosts, faults
	$(BIN)/python -m pytest -o addopts=-ra tests/vm $(PYTEST_ARGS)

test-fast: $(STAMP)  ## only the tests of pure logic (no servers, no processes): seconds
	$(BIN)/python -m pytest -m "not processes" $(PYTEST_ARGS)

# NO_MKDOCS_2_WARNING: mkdocs-material prints a notice about its successor on every build.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

lint: $(STAMP)  ## ruff, ruff format, mypy --strict, the import contracts between the processes, generated docs, a unit test file per module, the docs site
	$(BIN)/ruff check .
	$(BIN)/ruff format --check scheduler_proc app tests gunicorn.conf.py bench deploy scripts
	$(BIN)/mypy scheduler_proc app gunicorn.conf.py scripts/settings_docs.py scripts/redis_schema_docs.py tests bench deploy \
	  --exclude '^tests/vm/'
# tests/vm has a conftest of its own (a second top-level `conftest`, as pytest loads it): a run of its own.
	MYPYPATH=tests/vm $(BIN)/mypy --cache-dir .mypy_cache/vm tests/vm
	$(BIN)/lint-imports
	$(BIN)/python scripts/settings_docs.py --check
	$(BIN)/python scripts/redis_schema_docs.py --check
	$(BIN)/python scripts/check_test_layout.py
	$(MKDOCS) build --strict --quiet --site-dir site

docs: $(STAMP)  ## build the docs site (docs/, mkdocs.yml) into site/; a broken link or anchor fails it
	$(MKDOCS) build --strict --site-dir site

settings-docs: $(STAMP)  ## rewrite the settings tables of docs/configuration.md and scheduler_proc/deploy/env.in from scheduler_proc/variables.py
	$(BIN)/python scripts/settings_docs.py

redis-schema-docs: $(STAMP)  ## rewrite docs/redis-schema.md (every Redis key, type, fields, TTL) from scheduler_proc/coordination/redis/schema.py
	$(BIN)/python scripts/redis_schema_docs.py

check-config: $(STAMP)  ## let gunicorn load the config and the app, and validate the jobs module (SCHEDULER_JOBS)
	$(GUNICORN_VARIABLES)
	$(BIN)/gunicorn -c gunicorn.conf.py --check-config
	$(BIN)/scheduler-proc validate

install: $(STAMP)  ## the venv in .venv: the kit (editable) with its test, lint, bench and docs extras

# requirements.lock constrains the install: tests run against the versions deploys use.
$(STAMP): pyproject.toml requirements.lock
	scripts/ensure-python $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test,lint,bench,docs]'
	touch $(STAMP)

chaos: $(STAMP) deps  ## seeded faults against 3 real masters on Redis and/or PostgreSQL; report in chaos-results/ (DURATION=, SEED=, BACKEND=redis|postgres|both, SENTINEL=1)
	$(BIN)/python bench/chaos.py --duration $(DURATION) --seed $(SEED) --backend $(BACKEND) $(if $(SENTINEL),--sentinel)

bench: $(STAMP)  ## ratios against plain APScheduler and without the kit, per store (BACKEND=redis|postgres|both); results in bench-results/
	scripts/ensure-test-deps wrk
	$(BIN)/python bench/bench.py --backend $(BACKEND)

deploy:  ## install or upgrade the service on this VM (PROJECT=/path ASGI= JOBS= your own app; REDIS=local or POSTGRES=<url>; DESTDIR= stages)
	$(DEPLOY) --port "$$PORT" $${BIND:+--bind "$$BIND"} $${PROJECT:+--project "$$PROJECT"} $${ASGI:+--asgi "$$ASGI"} \
	  $${JOBS:+--jobs "$$JOBS"} $${WHEELS:+--find-links "$$WHEELS"} $${HEALTH_PREFIX:+--health-prefix "$$HEALTH_PREFIX"} \
	  --memory-max "$$MEMORY_MAX" --tasks-max "$$TASKS_MAX" --limit-nofile "$$LIMIT_NOFILE" \
	  deploy  # REDIS and POSTGRES: read from the environment (a password stays out of the process list)

rollback:  ## point current back at the previous release and restart
	$(DEPLOY) rollback

undeploy:  ## remove the service and code; keeps /etc/$(APP) and state unless PURGE=1
	$(DEPLOY) $${PURGE:+--purge} undeploy

status:  ## the deployed scheduler's status, run as the service does (APP=...)
	$(DEPLOY) cli -- status

scheduler:  ## any scheduler command on the deployed app, as the service runs it (APP=... CMD="history tick")
	set -f; $(DEPLOY) cli -- $$CMD  # split into words, never globbed

# With the extras a deploy may use (otel, postgres): `make deploy` installs the whole lock.
lock: $(STAMP)  ## regenerate the kit's requirements.lock with the system Python (PROJECT= deploys use the project's own)
	rm -rf .lockvenv && $(DEPLOY_PYTHON) -m venv .lockvenv && .lockvenv/bin/pip install --quiet '.[otel,postgres]'
	.lockvenv/bin/pip freeze --exclude scheduler-proc > requirements.lock && rm -rf .lockvenv

clean:  ## remove the venv, caches and the built docs
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info site
