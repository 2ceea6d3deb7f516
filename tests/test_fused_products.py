"""The fused DenseProduct(2) -> DenseSum path of SequentialSumProductNetwork equals the layer-by-layer one."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models
from libspn_keras.math.log_matmul import log_matmul, log_outer_matmul
from libspn_keras.models.fast_path import fast_kernel_check
from libspn_keras.sum_ops.checked import checked_accumulators


def layer_by_layer(model, x):
    for layer in model.layers:
        x = layer(x)
    return x


@pytest.mark.parametrize("sum_op", ["grad", "em", "hard_em", "sample"])
def test_fused_model_matches_layer_by_layer(sum_op):
    keras.utils.set_random_seed(0)
    model = models.build_rat_spn(9, 3, 2, 3, 4, sum_op=sum_op)
    x = tf.constant((np.random.default_rng(0).random((16, 9)) < 0.4).astype("int32"))
    with tf.GradientTape(persistent=True) as tape:
        fused = model(x)
        reference = layer_by_layer(model, x)
    np.testing.assert_allclose(fused.numpy(), reference.numpy(), rtol=1e-5, atol=1e-6)
    if sum_op in ("grad", "em"):
        for fused_grad, reference_grad in zip(
            tape.gradient(fused, model.trainable_weights), tape.gradient(reference, model.trainable_weights)
        ):
            np.testing.assert_allclose(fused_grad.numpy(), reference_grad.numpy(), rtol=1e-4, atol=1e-6)


def test_fused_model_on_the_checked_path_matches_layer_by_layer():
    """Under EM on the checked path both pairs fuse (DenseSum -> ReduceProduct multiplies linear sums)."""
    keras.utils.set_random_seed(3)
    model = models.build_rat_spn(13, 2, 2, 3, 4, sum_op="em")
    x = tf.constant((np.random.default_rng(3).random((16, 13)) < 0.4).astype("int32"))
    model(x)
    accumulators, check = fast_kernel_check(model)
    assert bool(check())
    with tf.GradientTape(persistent=True) as tape:
        with checked_accumulators(accumulators):
            fused = model(x)
        reference = layer_by_layer(model, x)
    np.testing.assert_allclose(fused.numpy(), reference.numpy(), rtol=1e-5, atol=1e-6)
    for fused_grad, reference_grad in zip(
        tape.gradient(fused, model.trainable_weights), tape.gradient(reference, model.trainable_weights)
    ):
        np.testing.assert_allclose(fused_grad.numpy(), reference_grad.numpy(), rtol=1e-4, atol=1e-6)


def test_log_outer_matmul_against_outer_sum_with_extremes():
    rng = np.random.default_rng(1)
    left = rng.normal(size=(4, 3, 5)).astype(np.float32) * 300
    right = rng.normal(size=(4, 3, 5)).astype(np.float32) * 300
    left[0, 0] = -np.inf
    right[1, 2, :2] = -np.inf
    weights = rng.random((3, 25, 6)).astype(np.float32)
    left_t, right_t, weights_t = (tf.constant(v) for v in (left, right, weights))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([left_t, right_t, weights_t])
        fused = log_outer_matmul(left_t, right_t, weights_t)
        outer = tf.reshape(left_t[..., :, None] + right_t[..., None, :], [4, 3, 25])
        reference = log_matmul(outer, weights_t)
        fused_total = tf.reduce_sum(tf.where(tf.math.is_finite(fused), fused, 0.0))
        reference_total = tf.reduce_sum(tf.where(tf.math.is_finite(reference), reference, 0.0))
    np.testing.assert_allclose(fused.numpy(), reference.numpy(), rtol=1e-5)
    assert np.isneginf(fused.numpy()[0, 0]).all()
    for a, b in zip(
        tape.gradient(fused_total, [left_t, right_t, weights_t]),
        tape.gradient(reference_total, [left_t, right_t, weights_t]),
    ):
        assert np.all(np.isfinite(a.numpy()))
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_log_dropout_between_product_and_sum_disables_fusion():
    keras.utils.set_random_seed(2)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((4,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=2),
            layers.LogDropout(rate=0.99, seed=1),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=1),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    x = np.array([[0, 1, 1, 0]] * 8, dtype="int32")
    np.testing.assert_allclose(model(x, training=False).numpy(), layer_by_layer(model, x).numpy(), rtol=1e-6)
    # With nearly every product dropped, training outputs fall (the dropout layer really runs).
    assert np.all(model(x, training=True).numpy() <= model(x, training=False).numpy() + 1e-6)
    assert np.any(model(x, training=True).numpy() < model(x, training=False).numpy() - 1e-3)
