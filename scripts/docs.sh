#!/usr/bin/env bash
# Build the HTML documentation into docs/_build/html with Sphinx, treating every
# warning as an error (--keep-going reports all of them before failing).
# scripts/test.sh runs this after the tests, so CI checks the docs too.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

python3 -m pip install -q -e ".[docs]" && python3 -m sphinx -W --keep-going -q -b html docs docs/_build/html
