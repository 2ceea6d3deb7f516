"""The node-major path of compiled region graphs: its kernels against numpy, and the default compile reaching it."""

import numpy as np
import pytest
import tensorflow as tf
from reference import np_logsumexp

from libspn_keras import models, sum_ops
from libspn_keras.math.node_major import checked_log_matmul_node_major
from libspn_keras.math.region_products import gather_sum
from libspn_keras.models.fast_path import resolve_jit_compile, sum_layers_within
from libspn_keras.sum_ops.checked import checked_accumulators

SUM_OPS = ["grad", "em", "hard_em", "unweighted_hard_em", "sample"]


def test_checked_log_matmul_node_major_matches_numpy_values_and_gradients():
    rng = np.random.default_rng(0)
    x = rng.normal(scale=3.0, size=(2, 5, 4)).astype("float32")  # [regions, batch, children]
    x[0, 1] = -np.inf  # a sample whose children are all 0
    x[1, 2, :2] = -np.inf
    weights = rng.uniform(0.1, 1.0, size=(2, 4, 3))
    weights = (weights / weights.sum(axis=1, keepdims=True)).astype("float32")
    upstream = rng.normal(size=(2, 5, 3)).astype("float32")
    x_t, w_t = tf.constant(x), tf.constant(weights)
    with tf.GradientTape() as tape:
        tape.watch([x_t, w_t])
        out = checked_log_matmul_node_major(x_t, w_t)
        loss = tf.reduce_sum(tf.where(tf.math.is_finite(out), out, 0.0) * upstream)
    d_x, d_w = tape.gradient(loss, [x_t, w_t])
    expected = np_logsumexp(x[..., :, None] + np.log(weights)[:, None], axis=2)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert np.isneginf(out.numpy()[0, 1]).all()
    # d out_s / d x_c = w_cs exp(x_c - out_s); d out_s / d w_cs = exp(x_c - out_s).
    with np.errstate(invalid="ignore"):
        share = np.exp(x[..., :, None] - expected[..., None, :])  # [regions, batch, children, sums]
    share = np.where(np.isfinite(expected)[..., None, :], share, 0.0)
    np.testing.assert_allclose(d_x.numpy(), np.einsum("rbcs,rcs,rbs->rbc", share, weights, upstream), atol=1e-5)
    np.testing.assert_allclose(d_w.numpy(), np.einsum("rbcs,rbs->rcs", share, upstream), rtol=1e-4, atol=1e-5)
    assert np.isfinite(d_x.numpy()).all() and np.isfinite(d_w.numpy()).all()


def test_gather_sum_matches_numpy_and_its_gradient_is_the_transposed_gather():
    rng = np.random.default_rng(1)
    table = rng.normal(size=(6, 3, 2)).astype("float32")
    table[4, 0, 1] = -np.inf
    index = np.array([[0, 4, -1], [5, -1, -1], [2, 2, 3], [-1, -1, -1]], dtype=np.int32)
    upstream = rng.normal(size=(4, 3, 2)).astype("float32")
    table_t = tf.constant(table)
    with tf.GradientTape() as tape:
        tape.watch(table_t)
        out = gather_sum(table_t, index)
        loss = tf.reduce_sum(tf.where(tf.math.is_finite(out), out, 0.0) * upstream)
    expected = np.stack([sum((table[i] for i in row if i >= 0), np.zeros((3, 2), np.float32)) for row in index])
    np.testing.assert_array_equal(out.numpy(), expected)
    expected_grad = np.zeros_like(table)
    reaching = np.where(np.isfinite(expected), upstream, 0.0)  # the loss masks the product of value 0
    for p, row in enumerate(index):
        for i in row[row >= 0]:
            expected_grad[i] += reaching[p]
    np.testing.assert_allclose(tape.gradient(loss, table_t).numpy(), expected_grad, atol=1e-6)


@pytest.mark.parametrize("sum_op", SUM_OPS)
@pytest.mark.parametrize("checked", [False, True])
def test_weighted_sum_node_major_equals_weighted_sum(sum_op, checked):
    rng = np.random.default_rng(2)
    op = sum_ops.get(sum_op)
    logspace = op.resolve_logspace_accumulators(None, "test")
    values = rng.uniform(0.2, 1.0, size=(3, 1, 4, 2))
    accumulators = tf.Variable((np.log(values) if logspace else values).astype("float32"))
    x = tf.constant(rng.normal(size=(5, 3, 1, 4)).astype("float32"))  # [batch, regions, 1, children]

    def both():
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            batch_first = op.weighted_sum(x, accumulators, logspace)
            node_major = op.weighted_sum_node_major(tf.transpose(x, [1, 2, 0, 3]), accumulators, logspace)
            node_major = tf.transpose(node_major, [2, 0, 1, 3])
        if sum_op in ("grad", "em"):  # routing ops draw at random: compare their forward passes only
            grads = [tape.gradient(out, [x, accumulators]) for out in (batch_first, node_major)]
            for a, b in zip(*grads):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        return batch_first, node_major

    if checked:
        with checked_accumulators([accumulators]):
            batch_first, node_major = both()
    else:
        batch_first, node_major = both()
    np.testing.assert_allclose(node_major.numpy(), batch_first.numpy(), rtol=1e-5, atol=1e-6)


def test_default_compile_of_an_hclt_is_xla_with_every_sum_on_the_checked_path():
    rng = np.random.default_rng(3)
    data = (rng.random((64, 6)) < 0.4).astype("int32")
    model = models.build_hclt(data, 3)
    model(data[:2])
    assert resolve_jit_compile(model) is True
    checked = {id(layer) for layer in sum_layers_within(model)}
    assert all(id(layer) in checked for layer in model.layers[-1].sum_layers)
