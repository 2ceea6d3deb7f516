"""The node-major path of compiled region graphs: its kernels against numpy, and the default compile reaching it."""

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp
from tensorflow import keras

from libspn_keras import layers, models, sum_ops
from libspn_keras.math import region_products
from libspn_keras.math.node_major import checked_log_matmul_node_major
from libspn_keras.math.region_products import gather_sum, length_classes
from libspn_keras.models.fast_path import resolve_jit_compile, sum_layers_within
from libspn_keras.structure.chow_liu import hclt_region_graph
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


def hub_index(rng, num_small=30, hub=40, num_rows=60):
    """A padded index like a Chow-Liu tree's level: one row of ``hub`` entries beside rows of one or two."""
    index = -np.ones((num_small + 1, hub), dtype=np.int32)
    index[0] = rng.permutation(num_rows)[:hub]
    for row in range(1, num_small + 1):
        entries = rng.integers(0, num_rows, size=1 + row % 2)
        index[row, rng.permutation(hub)[: len(entries)]] = entries  # entries anywhere in the row
    index[5] = -1  # a row without entries: its product is log 1 = 0
    return index


def test_length_classes_group_every_row_once_with_its_entries():
    rng = np.random.default_rng(4)
    index = hub_index(rng)
    classes = length_classes(index)
    assert classes is not None  # 31 x 40 padded values against 64 + 30 x 1 or 2 by class
    rows = np.concatenate([rows for rows, _ in classes])
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(index)))
    for rows, class_index in classes:
        width = class_index.shape[1]
        assert width & (width - 1) == 0 or width == index.shape[1]  # a power of two, at most the padded width
        for row, packed in zip(rows, class_index):
            entries = index[row][index[row] >= 0]
            assert len(entries) <= width and (2 * len(entries) > width or width == 1)
            np.testing.assert_array_equal(packed[: len(entries)], entries)  # in their order, then padding
            assert (packed[len(entries) :] == -1).all()
    # Rows of similar length stay one padded gather.
    assert length_classes(np.array([[0, 1, -1], [2, -1, -1], [1, 2, 3]], dtype=np.int32)) is None


@pytest.mark.parametrize("jit", [False, True])
def test_gather_sum_over_very_unequal_rows_matches_numpy_and_its_gradient(jit):
    rng = np.random.default_rng(5)
    index = hub_index(rng)
    table = rng.normal(size=(60, 3, 2)).astype("float32")
    upstream = rng.normal(size=(len(index), 3, 2)).astype("float32")

    @tf.function(jit_compile=jit)
    def value_and_gradient(table_t):
        with tf.GradientTape() as tape:
            tape.watch(table_t)
            out = gather_sum(table_t, index)
            loss = tf.reduce_sum(out * upstream)
        return out, tape.gradient(loss, table_t)

    out, gradient = value_and_gradient(tf.constant(table))
    expected = np.stack([table[row[row >= 0]].sum(axis=0) for row in index])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-5)
    expected_gradient = np.zeros_like(table)
    for p, row in enumerate(index):
        np.add.at(expected_gradient, row[row >= 0], upstream[p])
    np.testing.assert_allclose(gradient.numpy(), expected_gradient, rtol=1e-6, atol=1e-5)


def test_hclt_with_a_hub_is_normalized_and_equals_the_single_padded_gather(monkeypatch):
    # Variable 0 is the root; 1-10 hang from it, 11 is a hub whose children are 12-17. The hub's level holds it
    # (6 parts from the level below) beside ten regions with none from there. The padded gather of that source is
    # 3.7 times what gathers by length class take; with the limit lowered to 1 the model takes the split path
    # on a model small enough to enumerate (the real limit splits levels of hundreds of parts).
    monkeypatch.setattr(region_products, "MAX_PADDING", 1)
    parents = np.array([-1] + [0] * 10 + [0] + [11] * 6)
    root = hclt_region_graph(parents)
    data = all_binary(len(parents))

    keras.utils.set_random_seed(0)
    model = models.compile_region_graph(root, layers.IndicatorLeaf(2), num_sums=2, num_input_sums=2, sum_op="grad")
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:
        variable.assign(rng.uniform(0.2, 1.0, variable.shape).astype("float32"))

    # Both paths of the same model in one XLA-compiled function (one compile, not one per path): the gathers are
    # chosen when they are traced, the limit read then.
    @tf.function(jit_compile=True)
    def values_and_gradients(x):
        results = []
        for max_padding in (1, 10**9):  # the split path, then one padded gather everywhere
            monkeypatch.setattr(region_products, "MAX_PADDING", max_padding)
            with tf.GradientTape() as tape:
                log_p = model(x)
                total = tf.reduce_sum(log_p)
            results.append((log_p, tape.gradient(total, model.trainable_variables)))
        monkeypatch.setattr(region_products, "MAX_PADDING", 1)
        return results

    (log_p, gradients), (padded_log_p, padded_gradients) = values_and_gradients(tf.constant(data[:4096]))
    index = [idx for level in model.layers[-1].reads.groups for group in level if group for _, idx in group]
    assert any(length_classes(idx) is not None for idx in index)
    assert abs(np_logsumexp(model.predict(data, batch_size=32768, verbose=0))) < 1e-5
    np.testing.assert_allclose(log_p.numpy(), padded_log_p.numpy(), rtol=1e-6, atol=1e-6)
    for gradient, padded in zip(gradients, padded_gradients):
        np.testing.assert_allclose(gradient.numpy(), padded.numpy(), rtol=1e-5, atol=1e-5)


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
