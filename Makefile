# Two commands do all the set-up on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install lint bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Starts the registry, the repository and the audit sink on the embedded default (SQLite + ./data).
run: install
	$(BIN)/python -m xdsservice.launch

# Installs, makes sure PostgreSQL binaries are present (the tests start a throwaway cluster), Citus built into
# them when ../shared/vendor has its source (the tests start a coordinator and two workers), and the Java SOAP
# tools the WSDL interoperability tests use (wsdl4j, wsimport), runs all tests.
test: install lint
	scripts/ensure-postgres.sh
	scripts/ensure-citus.sh
	scripts/ensure-java-tools.sh
	$(BIN)/python -m pytest -q

# ruff over the whole tree (configuration in pyproject.toml), mypy --strict on the protocol core.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy xdscore

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
