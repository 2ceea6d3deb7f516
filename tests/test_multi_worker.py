"""MultiWorkerMirroredStrategy: ``examples/multi_worker.py --launch`` trains on 2 local workers like 1 process.

The launcher starts two worker processes on 127.0.0.1; both train a RAT-SPN
with EM and one with SGD by a plain ``model.fit(x, batch_size=32)`` (no
wrapper: the SPN models make Keras' step logs reducible over workers), each
global batch split between them; the 255 samples end with a batch of 31,
split 16/15. The test checks that the chief reports a better
log-likelihood than at the start, and that the final weights and LL equal
those of ``--single`` (the same training in one process) up to float32
round-off of the summed gradients (measured: 4e-6 relative; 8e-3 without
the models' weighting of each worker's gradients by its share of a batch).
"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reference import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "multi_worker.py"
LL_LINE = r"^{label} {kind}: initial LL (-?\d+\.\d+), final LL (-?\d+\.\d+) "


def run_example(*args, timeout):
    env = subprocess_env(TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"multi_worker.py {' '.join(args)} exited with {result.returncode}:\n{output[-6000:]}"
    )
    return output


def log_likelihoods(output, label, kind):
    match = re.search(LL_LINE.format(label=label, kind=kind), output, re.MULTILINE)
    assert match, f"no '{label} {kind}' LL line in:\n{output[-6000:]}"
    return float(match.group(1)), float(match.group(2))


@pytest.mark.slow
def test_two_workers_train_like_one_process(tmp_path):
    launched = run_example("--launch", f"--out={tmp_path}", "--timeout=240", timeout=300)
    assert "worker 0: 2 replicas in sync" in launched and "worker 1: 2 replicas in sync" in launched, launched
    assert "worker 0: done" in launched and "worker 1: done" in launched, launched
    single = run_example("--single", f"--out={tmp_path}", timeout=300)

    for kind in ("em", "grad"):
        initial, final = log_likelihoods(launched, "chief", kind)
        single_initial, single_final = log_likelihoods(single, "single", kind)
        assert final > initial + 0.1, f"{kind}: the workers did not improve the LL ({initial} -> {final})"
        assert initial == pytest.approx(single_initial, abs=1e-5)
        assert final == pytest.approx(single_final, abs=1e-4)

    multi = np.load(tmp_path / "multi_worker.npz")
    reference = np.load(tmp_path / "single.npz")
    assert sorted(multi.files) == sorted(reference.files)
    for name in reference.files:
        np.testing.assert_allclose(multi[name], reference[name], rtol=1e-4, atol=1e-6, err_msg=name)
