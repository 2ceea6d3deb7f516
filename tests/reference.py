"""Independent numpy references, and small models built the same way, shared by the tests."""

import numpy as np
from tensorflow import keras

from libspn_keras import layers, models


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


def saved_state(model):
    """The variables of ``model`` and of its compiled optimizer (built here, as ``fit`` would) with their values now,
    for :func:`restore_state`: a test then reruns the same compiled steps from the same start instead of building,
    tracing and compiling a twin model."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return [(variable, variable.numpy().copy()) for variable in model.variables + model.optimizer.variables]


def restore_state(saved):
    """Puts back the values that :func:`saved_state` kept."""
    for variable, value in saved:
        variable.assign(value)


def subprocess_env(**overrides):
    """``os.environ`` for a child Python that imports this checkout first, keeping the caller's PYTHONPATH."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    python_path = [str(root)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(python_path), **overrides)
    env.pop("TF_CONFIG", None)
    return env


def run_script(relative_path, *args, timeout=300):
    """Runs a repository script (e.g. ``examples/x.py``) from the repository root; returns stdout after exit 0."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = subprocess_env(TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
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


def example_module(relative_path, monkeypatch=None):
    """A repository script (e.g. ``examples/x.py``) loaded as a module, to call its ``main(argv)`` or helpers in the
    test's process (a subprocess would import TensorFlow again). With ``monkeypatch``, the script's folder comes first
    on ``sys.path`` for the test, as when it runs as a command (the examples import ``spn_tutorials`` from there)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / relative_path
    if monkeypatch is not None:
        monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mixture_steps(x, rule, eta=0.4, batch=6):
    """Online-EM steps of a two-normal mixture (one variable) in numpy, by either leaf rule.

    The mixture of ``tests/side/training_values.py``: locations -1 and 1, scales 0.8 and 1.3, weights 0.3
    and 0.7, initial counts 1 and 2. ``rule`` is an ``OnlineExpectationMaximization(leaf_update=...)``
    value: ``"running_statistics"`` (0.6.0's) or ``"towards_estimate"``.
    """
    location, scale, weights = np.array([-1.0, 1.0]), np.array([0.8, 1.3]), np.array([0.3, 0.7])
    count = np.array([1.0, 2.0])  # accumulator_initializer
    first, second = location * count, (scale**2 + location**2) * count
    for start in range(0, len(x), batch):
        xb = x[start : start + batch, None]
        density = np.exp(-0.5 * ((xb - location) / scale) ** 2) / (scale * np.sqrt(2 * np.pi))
        r = weights * density
        r /= r.sum(axis=1, keepdims=True)
        weights = (1 - eta) * weights + eta * r.sum(axis=0) / batch  # both: per-sum normalized counts
        if rule == "running_statistics":
            count = (1 - eta) * count + eta * r.sum(axis=0) / batch
            first = (1 - eta) * first + eta * (r * xb).sum(axis=0) / batch
            second = (1 - eta) * second + eta * (r * xb**2).sum(axis=0) / batch
            location = first / count
            scale = np.sqrt(second / count - location**2)
        else:
            em_location = (r * xb).sum(axis=0) / r.sum(axis=0)
            em_variance = (r * (xb - em_location) ** 2).sum(axis=0) / r.sum(axis=0)
            location = (1 - eta) * location + eta * em_location
            scale = np.sqrt((1 - eta) * scale**2 + eta * em_variance)
    return {"1_location": location, "1_scale": scale, "2_weights": weights}


def eager_total(stack, shape):
    """Probability mass of a stack of layers over every binary input of ``shape``, called layer by layer outside a
    model (so no build-time scope check runs): 1 for a normalized network."""
    x = all_binary(int(np.prod(shape))).reshape((-1,) + tuple(shape))
    for layer in stack:
        x = layer(x)
    return float(np.exp(np_logsumexp(np.asarray(x)[:, 0].astype(np.float64))))


def seeded_rat_spn(num_vars, num_categories=2, seed=0, **kwargs):
    """A small RAT-SPN over indicator leaves (depth 1, 2 decompositions, 2 input distributions and sums), its
    weights drawn after ``keras.utils.set_random_seed(seed)``; ``kwargs`` go to ``build_rat_spn``."""
    keras.utils.set_random_seed(seed)
    return models.build_rat_spn(
        num_vars=num_vars,
        depth=1,
        num_decomps=2,
        num_input_distributions=2,
        num_sums=2,
        leaf=layers.IndicatorLeaf(num_components=num_categories),
        **kwargs,
    )
