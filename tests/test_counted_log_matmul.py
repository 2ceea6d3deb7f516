"""The soft-EM kernels that normalize accumulators inside the sum, and the EM totals known without a second pass."""

import numpy as np
import pytest
import tensorflow as tf
from reference import np_logsumexp

from libspn_keras.math.contractions import MAX_UNROLLED_CHILDREN
from libspn_keras.math.counted_log_matmul import (
    MAX_FAST_TOTAL,
    MIN_FAST_TOTAL,
    counted_log_matmul,
    counted_log_outer_matmul,
)
from libspn_keras.math.em import online_em_sum_update, sum_estimate
from libspn_keras.math.log_matmul import log_matmul
from libspn_keras.math.products import log_product_of_groups


def reference_sums_and_counts(x, accumulators, dy):
    """float64 ``log S``, ``d(dy . log S)/dx`` and edge counts ``sum_b dy_bs w_cs S_c / S_s`` by broadcasting."""
    x, acc, dy = (np.asarray(v, np.float64) for v in (x, accumulators, dy))
    log_w = np.log(acc / acc.sum(axis=-2, keepdims=True))
    terms = x[..., :, None] + log_w  # [batch, *lead, children, sums]
    out = np_logsumexp(terms, axis=-2)
    with np.errstate(invalid="ignore"):
        flow = np.where(np.isfinite(out)[..., None, :], np.exp(terms - out[..., None, :]), 0.0) * dy[..., None, :]
    batch_axes = tuple(range(x.ndim - acc.ndim + 1))
    return out, flow.sum(axis=-1), flow.sum(axis=batch_axes)


def kernel_values(kernel, inputs, accumulators, dy, jit=False):
    """The kernel's output and its gradients to ``inputs`` and ``accumulators``; with ``jit``, compiled by XLA."""

    def values(inputs, accumulators):
        with tf.GradientTape() as tape:
            tape.watch([*inputs, accumulators])
            out = kernel(*inputs, accumulators)
        return out, tape.gradient(out, [*inputs, accumulators], output_gradients=tf.constant(dy, tf.float32))

    if jit:
        values = tf.function(values, jit_compile=True)
    out, grads = values([tf.constant(v, tf.float32) for v in inputs], tf.constant(accumulators, tf.float32))
    return out.numpy(), [g.numpy() for g in grads]


def extreme_children(rng, shape):
    x = rng.normal(size=shape) * 200.0
    x[0] = -np.inf  # a sample whose sums are all 0
    x[1, ..., :2] = -np.inf
    return x


def extreme_accumulators(rng, shape, total):
    acc = rng.random(shape) + 0.05
    acc[..., 0, :] = 2.0**-99 * acc.sum(axis=-2)  # a weight near the smallest the fast kernel takes
    return acc / acc.sum(axis=-2, keepdims=True) * total


@pytest.mark.parametrize("weight_shape", [(3, 2, 6, 4), (6, 4)])
@pytest.mark.parametrize("total", [MIN_FAST_TOTAL, 1.0, 3.0e3, MAX_FAST_TOTAL])
def test_counted_log_matmul_matches_normalized_weights(weight_shape, total):
    rng = np.random.default_rng(0)
    x = extreme_children(rng, (5, 3, 2, 6))
    acc = extreme_accumulators(rng, weight_shape, total)
    dy = rng.random((5, 3, 2, 4))
    out, (d_x, counts) = kernel_values(counted_log_matmul, [x], acc, dy)
    ref_out, ref_d_x, ref_counts = reference_sums_and_counts(x, acc, dy)
    assert np.isneginf(out[0]).all()
    np.testing.assert_allclose(out[1:], ref_out[1:], rtol=1e-6, atol=1e-5)
    assert np.all(np.isfinite(d_x)) and np.all(np.isfinite(counts))
    np.testing.assert_allclose(d_x, ref_d_x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(counts, ref_counts, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("weight_shape", [(3, 2, 9, 4), (9, 4)])
def test_counted_log_outer_matmul_matches_the_outer_sum(weight_shape):
    rng = np.random.default_rng(1)
    left, right = extreme_children(rng, (5, 3, 2, 3)), rng.normal(size=(5, 3, 2, 3)) * 50.0
    right[2, 1] = -np.inf
    acc = extreme_accumulators(rng, weight_shape, 7.0)
    dy = rng.random((5, 3, 2, 4))
    out, (d_left, d_right, counts) = kernel_values(counted_log_outer_matmul, [left, right], acc, dy)
    outer = (left[..., :, None] + right[..., None, :]).reshape(5, 3, 2, 9)
    ref_out, ref_d_outer, ref_counts = reference_sums_and_counts(outer, acc, dy)
    ref_d_outer = ref_d_outer.reshape(5, 3, 2, 3, 3)
    assert np.isneginf(out[0]).all() and np.isneginf(out[2, 1]).all()
    finite = np.isfinite(ref_out)
    np.testing.assert_allclose(out[finite], ref_out[finite], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(d_left, ref_d_outer.sum(axis=-1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d_right, ref_d_outer.sum(axis=-2), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(counts, ref_counts, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("per_sum", [True, False])
@pytest.mark.parametrize("pseudocount", [0.0, 0.3])
def test_sum_estimate_total_is_the_total_of_the_estimate(per_sum, pseudocount):
    rng = np.random.default_rng(2)
    counts = rng.random((2, 5, 3)) * 4.0
    counts[1, :, 0] = 0.0  # a sum no sample reached
    estimate, total = sum_estimate(tf.constant(counts, tf.float32), pseudocount, per_sum, with_total=True)
    reached = counts.sum(axis=-2, keepdims=True) > 0
    smoothed = counts + pseudocount
    with np.errstate(invalid="ignore"):
        expected = np.where(reached, smoothed / (smoothed.sum(axis=-2, keepdims=True) if per_sum else 1.0), 0.0)
    np.testing.assert_allclose(estimate.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(total.numpy(), expected.sum(axis=-2, keepdims=True), rtol=1e-6)
    assert total.shape == (2, 1, 3)


def test_online_em_sum_update_with_a_known_total_equals_the_summed_one():
    rng = np.random.default_rng(3)
    accumulators = tf.constant(rng.random((4, 6, 2)) + 0.1, tf.float32)
    counts = rng.random((4, 6, 2))
    counts[2, :, 1] = 0.0
    estimate, total = sum_estimate(tf.constant(counts, tf.float32), 0.1, True, with_total=True)
    known = online_em_sum_update(accumulators, estimate, 0.3, total).numpy()
    old = accumulators.numpy() / accumulators.numpy().sum(axis=-2, keepdims=True)
    expected = 0.7 * old + 0.3 * estimate.numpy()
    expected /= expected.sum(axis=-2, keepdims=True)
    np.testing.assert_allclose(known, expected, rtol=1e-6)
    np.testing.assert_allclose(known[2, :, 1], old[2, :, 1], rtol=1e-6)  # the unreached sum keeps its weights
    np.testing.assert_allclose(known, online_em_sum_update(accumulators, estimate, 0.3).numpy(), rtol=1e-6)


def test_log_product_of_groups_is_the_sum_of_the_logs():
    rng = np.random.default_rng(4)
    values = (2.0 ** rng.uniform(-126, 1, size=(3, 12, 2, 5))).astype(np.float32)
    values[0, 0, 0, 0] = 0.0
    values[1, 4, 1, 2] = np.inf
    values[2, 7, 0, 1] = np.nan
    got = log_product_of_groups(tf.constant(values), 6).numpy()
    with np.errstate(divide="ignore"):
        expected = np.log(values.astype(np.float64)).reshape(3, 2, 6, 2, 5).sum(axis=2)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-6, atol=1e-4)
    assert np.isneginf(got[0, 0, 0, 0]) and np.isposinf(got[1, 0, 1, 2]) and np.isnan(got[2, 1, 0, 1])
    assert (~finite).sum() == 3
    with pytest.raises(ValueError, match="num_factors"):
        log_product_of_groups(tf.constant(values), 101)


def test_counted_sums_then_products_match_the_product_of_the_sums():
    rng = np.random.default_rng(5)
    x = extreme_children(rng, (5, 6, 2, 3))
    acc = extreme_accumulators(rng, (6, 2, 3, 4), 2.0)
    dy = rng.random((5, 2, 2, 4))
    kernel = lambda x, acc: counted_log_matmul(x, acc, product_factors=3)  # noqa: E731
    out, (d_x, counts) = kernel_values(kernel, [x], acc, dy)
    spread = np.repeat(dy, 3, axis=1)
    ref_sums, ref_d_x, ref_counts = reference_sums_and_counts(x, acc, spread)
    ref_out = ref_sums.reshape(5, 2, 3, 2, 4).sum(axis=2)
    assert out.shape == (5, 2, 2, 4) and np.isneginf(out[0]).all()
    finite = np.isfinite(ref_out)
    np.testing.assert_allclose(out[finite], ref_out[finite], rtol=1e-6, atol=1e-4)
    assert np.array_equal(np.isfinite(out), finite)
    np.testing.assert_allclose(d_x, ref_d_x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(counts, ref_counts, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("num_children", [1, 2, MAX_UNROLLED_CHILDREN, MAX_UNROLLED_CHILDREN + 1])
@pytest.mark.parametrize("product_factors", [None, 2])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "xla"])
def test_sums_over_few_children_match_the_reference(num_children, product_factors, jit):
    """Up to ``MAX_UNROLLED_CHILDREN`` children the soft-EM sums under products add broadcast products, not a matmul."""
    rng = np.random.default_rng(6)
    x = extreme_children(rng, (5, 4, 3, num_children))
    x[2, 1, 0, 0] = 0.0  # an indicator-like child: the others are -inf or far below
    acc = extreme_accumulators(rng, (4, 3, num_children, 5), 3.0)
    out_shape = (5, 4 // (product_factors or 1), 3, 5)
    dy = rng.random(out_shape)
    spread = np.repeat(dy, product_factors or 1, axis=1)
    ref_sums, ref_d_x, ref_counts = reference_sums_and_counts(x, acc, spread)
    ref_out = ref_sums if product_factors is None else ref_sums.reshape(5, 2, 2, 3, 5).sum(axis=2)
    finite = np.isfinite(ref_out)

    counted = lambda x, acc: counted_log_matmul(x, acc, product_factors=product_factors)  # noqa: E731
    out, (d_x, counts) = kernel_values(counted, [x], acc, dy, jit)
    assert out.shape == out_shape and np.array_equal(np.isfinite(out), finite)
    np.testing.assert_allclose(out[finite], ref_out[finite], rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(d_x, ref_d_x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(counts, ref_counts, rtol=1e-4, atol=1e-6)

    if product_factors is None:  # the gradient sum ops' kernel, on weights checked to be normalized
        weights = acc / acc.sum(axis=-2, keepdims=True)
        checked = lambda x, w: log_matmul(x, w, checked_weights=True)  # noqa: E731
        out, (d_x, d_weights) = kernel_values(checked, [x], weights, dy, jit)
        np.testing.assert_allclose(out[finite], ref_out[finite], rtol=1e-6, atol=1e-4)
        assert np.array_equal(np.isfinite(out), finite)
        np.testing.assert_allclose(d_x, ref_d_x, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(d_weights * weights, ref_counts, rtol=1e-4, atol=1e-6)
