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


def sum_layers(model):
    """The layers of ``model`` that hold sum weights (an ``accumulators`` variable)."""
    return [layer for layer in model.layers if hasattr(layer, "accumulators")]


def randomize_accumulators(model, rng, logspace=None, scale=1.5):
    """Writes random, far-from-uniform weights into every sum layer of ``model``; returns how many.

    Draws ``rng.normal(scale=scale)`` per accumulator entry, kept as-is for log-space accumulators and
    exponentiated for linear ones. With ``logspace`` given, every sum layer must use that space.
    """
    count = 0
    for layer in sum_layers(model):
        if logspace is not None:
            assert bool(layer.logspace_accumulators) == logspace
        value = rng.normal(scale=scale, size=tuple(layer.accumulators.shape))
        layer.accumulators.assign((value if layer.logspace_accumulators else np.exp(value)).astype(np.float32))
        count += 1
    assert count > 0
    return count


def normalized_weights(layer):
    """Normalized linear weights ``[..., children, sums]`` of a sum layer, computed in float64 from its accumulators."""
    acc = layer.accumulators.numpy().astype(np.float64)
    if layer.logspace_accumulators:
        acc = np.exp(acc - acc.max(axis=-2, keepdims=True))
    return acc / acc.sum(axis=-2, keepdims=True)


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
