"""Independent numpy references shared by the tests."""

import numpy as np


def np_logsumexp(a, axis=None):
    """Stable float64 log-sum-exp that returns -inf for all -inf input."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis) if axis is not None else out.item()


def all_binary(num_vars):
    """All ``2**num_vars`` binary assignments, ``[2**num_vars, num_vars]`` int32."""
    return ((np.arange(2**num_vars)[:, None] >> np.arange(num_vars)) & 1).astype(np.int32)


def run_script(relative_path, *args, timeout=300):
    """Runs a repository script (e.g. ``examples/x.py``) from the repository root; returns stdout after exit 0."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    python_path = [str(root)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join(python_path), MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(root / relative_path), *map(str, args)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{relative_path} {' '.join(map(str, args))} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
    )
    return result.stdout
