#!/usr/bin/env bash
# The project's demo: install the package with its example extras, then run
# the DGC-SPN digits example that README.md describes.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

python3 -m pip install -q -e ".[examples]"
python3 examples/dgc_spn_digits.py "$@"
