#!/usr/bin/env bash
# Build the HTML documentation into docs/_build/html with Sphinx, treating every
# warning as an error (--keep-going reports all of them before failing).
# scripts/test.sh runs this before the tests, so CI checks the docs too.
#
# Every tutorial notebook in docs/tutorials/ is executed first, in quick mode and
# as many at a time as there are cores (scripts/execute_notebooks.py, about a
# minute and a half on two cores); a cell that raises fails the build. Sphinx then
# renders the fresh outputs from the jupyter-cache. To edit prose without
# re-running unchanged notebooks, reuse cached outputs:
#   LIBSPN_KERAS_DOCS_EXECUTE=cache bash scripts/docs.sh   (or =off: no outputs)
# Cached outputs can be stale against changed library code; CI always executes.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

# scripts/test.sh has installed ".[test]", which holds the docs' packages: it sets this to skip a second install.
if [ -z "${LIBSPN_KERAS_DOCS_DEPS_INSTALLED:-}" ]; then
    python3 -m pip install -q -e ".[docs]"
fi
if [ "${LIBSPN_KERAS_DOCS_EXECUTE:-force}" = force ]; then
    python3 scripts/execute_notebooks.py
    export LIBSPN_KERAS_DOCS_EXECUTE=cache
fi
python3 -m sphinx -j 2 -W --keep-going -q -b html docs docs/_build/html
