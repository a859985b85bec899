# The two commands: `make run` and `make test`. Everything else is for developers and operators.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check-config install clean

run: $(STAMP)  ## start the demo app with its scheduler (single host, no Redis)
	$(BIN)/gunicorn -c gunicorn.conf.py

test: $(STAMP)  ## set up what the tests need (venv, Redis) and run them all
	scripts/ensure-test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check scheduler_proc app tests gunicorn.conf.py
	$(BIN)/mypy scheduler_proc app gunicorn.conf.py

check-config: $(STAMP)  ## let gunicorn load the config and the app
	$(BIN)/gunicorn -c gunicorn.conf.py --check-config

install: $(STAMP)

$(STAMP): pyproject.toml
	scripts/ensure-python $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
