#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the test extras into .venv, starts the local
# services the distributed tests need (PostgreSQL, Redis) if they are down, then lint, types, tests.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k zhipu`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import qiao, pytest, openai' # fail loudly if the install above did not work
if [ -f tests/requirements-sdk-nodeps.txt ]; then
  # SDKs whose pins clash with others (see that file) go in without their dependencies.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r tests/requirements-sdk-nodeps.txt \
    2>&1 | grep -v '^WARNING: Location' || true
fi
bash scripts/services.sh || echo "scripts/services.sh: could not start every service; tests that need one will say so"
.venv/bin/ruff check src tests
.venv/bin/ruff format --check src tests
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
