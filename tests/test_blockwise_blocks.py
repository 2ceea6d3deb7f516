"""Blockwise contractions over more than one block of children, and shared weights with lead axes.

The kernels of ``libspn_keras.math.blockwise`` cut the children into blocks of about ``2**16`` values per
sample; the online log-sum-exp must rescale its running total whenever a later block holds a larger term. The
repository's tests use layers small enough for one block. Checked against float64 NumPy.
"""

import numpy as np
import tensorflow as tf
from test_log_math_extremes import reference

from libspn_keras.math import blockwise_log_matmul, log_matmul, max_plus_matmul
from libspn_keras.math.blockwise import _blocks_of


def _several_blocks():
    rng = np.random.default_rng(0)
    num_children, num_sums = 600, 300  # 600 x 300 values per sample: three blocks of 200 children
    x = rng.uniform(-5.0, 0.0, size=(3, num_children)).astype(np.float32)
    # The largest terms sit in the last block, so the running maximum changes from block to block.
    x[:, 400:] += 30.0
    log_w = rng.uniform(-3.0, 0.0, size=(num_children, num_sums)).astype(np.float32)
    return tf.constant(x), tf.constant(log_w)


def test_the_layer_is_large_enough_for_several_blocks():
    x, log_w = _several_blocks()
    assert _blocks_of(x, log_w).count > 1


def test_blockwise_log_matmul_over_several_blocks_matches_numpy():
    x, log_w = _several_blocks()
    np.testing.assert_allclose(blockwise_log_matmul(x, log_w).numpy(), reference(x, log_w), rtol=1e-5, atol=1e-4)


def test_blockwise_log_matmul_gradient_over_several_blocks_matches_numpy():
    x, log_w = _several_blocks()
    cot = np.random.default_rng(1).normal(size=(3, 300))
    with tf.GradientTape() as tape:
        tape.watch([x, log_w])
        total = tf.reduce_sum(blockwise_log_matmul(x, log_w) * cot)
    d_x, d_w = tape.gradient(total, [x, log_w])
    out = reference(x, log_w)
    flow = np.exp(x.numpy()[:, :, None] + log_w.numpy()[None].astype(np.float64) - out[:, None, :]) * cot[:, None]
    np.testing.assert_allclose(d_x.numpy(), flow.sum(-1), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(d_w.numpy(), flow.sum(0), rtol=1e-3, atol=1e-6)


def test_max_plus_matmul_over_several_blocks_matches_numpy():
    x, log_w = _several_blocks()
    expected = (x.numpy()[:, :, None].astype(np.float64) + log_w.numpy()[None]).max(axis=1)
    np.testing.assert_allclose(max_plus_matmul(x, log_w).numpy(), expected, rtol=1e-6)


def test_log_matmul_exact_path_over_several_blocks_matches_numpy():
    # Children 500 apart in log space: the fast kernel's shift would underflow the small ones, so log_matmul takes
    # its exact blockwise path.
    x, log_w = _several_blocks()
    x = x.numpy()
    x[:, :200] -= 500.0
    log_w = log_w.numpy()
    log_w[:200] += 400.0  # children of the first block: tiny values, huge weights; they matter
    log_w = log_w - np.logaddexp.reduce(log_w.astype(np.float64), axis=0, keepdims=True).astype(np.float32)
    out = log_matmul(tf.constant(x), log_weights=tf.constant(log_w)).numpy()
    np.testing.assert_allclose(out, reference(x, log_w), rtol=1e-5, atol=1e-4)


def test_blockwise_gradient_of_weights_shared_by_lead_positions_sums_over_them():
    rng = np.random.default_rng(2)
    x = tf.constant(rng.uniform(-10.0, 0.0, size=(3, 4, 5)).astype(np.float32))  # [batch, lead, children]
    log_w = tf.constant(rng.uniform(-5.0, 0.0, size=(5, 2)).astype(np.float32))  # [children, sums], shared
    cot = rng.normal(size=(3, 4, 2))
    with tf.GradientTape() as tape:
        tape.watch([x, log_w])
        total = tf.reduce_sum(blockwise_log_matmul(x, log_w) * cot)
    d_x, d_w = tape.gradient(total, [x, log_w])
    out = reference(x, log_w)
    flow = np.exp(x.numpy()[..., :, None] + log_w.numpy().astype(np.float64) - out[..., None, :]) * cot[..., None, :]
    np.testing.assert_allclose(d_x.numpy(), flow.sum(-1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d_w.numpy(), flow.sum((0, 1)), rtol=1e-4, atol=1e-6)
