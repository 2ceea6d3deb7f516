"""Online EM gives libspn-keras 0.6.0's numbers: the same small SPN trained in both, side by side.

Runs only where a virtual environment with 0.6.0 sits beside the checkout (``../venv060``, see
``../shared/ANCHORS.md``); skipped elsewhere, e.g. in CI.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ORIGINAL_PYTHON = HERE.parents[1] / "venv060" / "bin" / "python"


def run_side(python, library, sum_op):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # each side its own library
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [str(python), str(HERE / "side" / "em_steps.py"), library, sum_op],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # two processes per case (~30 s); skipped anyway without ../venv060
@pytest.mark.parametrize("sum_op", ["em", "hard_em"])
def test_online_em_steps_match_the_original(sum_op):
    probe = "import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'; import libspn_keras"
    if not ORIGINAL_PYTHON.exists() or subprocess.run([str(ORIGINAL_PYTHON), "-I", "-c", probe]).returncode:
        pytest.skip("no virtual environment with libspn-keras 0.6.0 beside the checkout")
    original = run_side(ORIGINAL_PYTHON, "original", sum_op)
    ours = run_side(sys.executable, "ours", sum_op)
    assert original.keys() == ours.keys() and len(ours) == 4
    for name, value in original.items():
        np.testing.assert_allclose(ours[name], value, atol=2e-6, err_msg=name)
