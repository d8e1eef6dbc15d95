# Two commands on a fresh machine: `make run` (the app, or the headless pipeline
# when there is no display, on a demo model with the embedded registry) and
# `make test`. Both install everything first, into .venv, from pinned versions.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-soak test-fuzz test-wheel test-bundle wheel bundle bench bench-gui lint clean

$(STAMP): pyproject.toml requirements/constraints.txt
	# Qt's system libraries and the test tools: installed when root with apt-get, else listed.
	bash packaging/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The constraints pin torch to its CPU build (2.13.0+cpu): no multi-GB CUDA download.
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[dev,packaging,ray]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/heimdall-studio demo

test: install
	$(PY) -m pytest

# The app at its defaults, four runs in a row, and the self-test mode (about 10 minutes on 2 cores).
test-soak: install
	$(PY) -m pytest -m soak tests/gui/test_default_run.py

# The fuzz corpus alone (also part of `make test`): mutated model files through the CLI.
test-fuzz: install
	$(PY) -m pytest -m fuzz

# The wheel and sdist in dist/, checked by twine.
wheel: install
	rm -f dist/*.whl dist/*.tar.gz
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*.whl dist/*.tar.gz

# A one-folder bundle with the CPU builds: dist/bundle/heimdall-studio/heimdall-studio
bundle: install
	$(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN --distpath dist/bundle \
		--workpath build/pyinstaller packaging/heimdall-studio.spec

# Groups kept out of `make test`; .ci/run runs them after it.
test-wheel: install
	$(PY) -m pytest -s -m wheel

test-bundle: install
	$(PY) -m pytest -s -m bundle

bench: install
	$(PY) bench/bench_runtimes.py

bench-gui: install
	$(PY) bench/bench_gui.py

# Lint (ruff), types (mypy: strict on core, engine and integrations, per pyproject.toml), the
# layering contracts (import-linter) and, last, the format check (ruff format --check; `ruff format`
# fixes what it finds). The same checks run as pre-commit hooks (.pre-commit-config.yaml).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) heimdall-out test-artifacts .pytest_cache dist build
