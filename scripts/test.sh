#!/usr/bin/env bash
# The project's test command: install the package with its test extras,
# lint the whole tree, build the documentation with warnings as errors
# (scripts/docs.sh), then run every test not marked slow on two workers
# (last, so that pytest's summary closes the output).
# README.md and .ci/run both call this script, so they cannot drift apart.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# The tests and notebooks check values, not speed, and most of their time is XLA compiling many small models:
# with LLVM's optimization of XLA's CPU kernels off, the same programs compile about a fifth faster (the HLO and its
# fusions are the same; only the machine code is less optimized). A caller's own XLA_FLAGS, empty included, is kept:
#   XLA_FLAGS= bash scripts/test.sh   runs with XLA's default optimization.
export XLA_FLAGS="${XLA_FLAGS---xla_backend_optimization_level=0}"

python3 -m pip install -q -e ".[test]"
ruff check .
LIBSPN_KERAS_DOCS_DEPS_INSTALLED=1 bash scripts/docs.sh
python3 -m pytest -m "not slow" -n 2 -q --durations=10 "$@"
