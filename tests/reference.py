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
