"""The gradient of log p reaches log-space accumulators whose normalized weight underflows float32."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models


@pytest.mark.parametrize("log_w1", [-86.0, -88.0, -115.0, -200.0])
def test_gradient_through_weight_below_float32_range(log_w1):
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((1,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    model.layers[-1].set_weights([np.array([[0.0], [log_w1]], np.float32)])
    accumulators = model.layers[-1].accumulators
    with tf.GradientTape() as tape:
        log_p = model(np.array([[1]], np.int32))[0, 0]
    # log p = log softmax(a)_1, so d log p / d a = onehot(1) - softmax(a) = [-1, 1] (up to e^log_w1).
    np.testing.assert_allclose(log_p.numpy(), log_w1, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(log_p, accumulators).numpy().ravel(), [-1.0, 1.0], atol=1e-6)


def product_sum_model(constraint=None):
    # 2 binary variables: the 4 indicator products (one per joint assignment) under one sum of 4 children, fused
    # as DenseProduct(2) -> DenseSum by the sequential model, then a root of 1 child.
    return models.SequentialSumProductNetwork(
        [
            keras.Input((2,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=1, logspace_accumulator_constraint=constraint),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


LOG_WEIGHTS = np.array([0.0, -115.0, -3.0, -200.0])  # children in 0.6.0's order: 2 * x0 + x1


def reference_step(log_weights, x, learning_rate):
    # Each sample reaches exactly one product (its own assignment), so d log p / d a = onehot(child) - softmax(a).
    weights = np.exp(log_weights - np.logaddexp.reduce(log_weights))
    children = 2 * x[:, 0] + x[:, 1]
    mean_gradient = np.eye(4)[children].mean(axis=0) - weights
    return log_weights + learning_rate * mean_gradient  # SGD on the loss -log p


@pytest.mark.parametrize("jit_compile", [True, False])
def test_fit_step_through_underflowing_weight_of_a_fused_product_sum(jit_compile):
    model = product_sum_model()
    model.layers[-2].set_weights([LOG_WEIGHTS.reshape(1, 1, 4, 1).astype("float32")])
    x = np.array([[0, 1], [0, 1], [1, 0], [1, 1]], np.int32)  # child 1 (weight e^-115) dominates two samples
    np.testing.assert_allclose(model(x).numpy()[:2, 0], -115.0 - np.log1p(np.exp(-3.0)), rtol=1e-6)
    model.compile(optimizer=keras.optimizers.SGD(1.0), jit_compile=jit_compile)
    model.fit(x, batch_size=4, epochs=1, verbose=0, shuffle=False)
    expected = reference_step(LOG_WEIGHTS, x, 1.0)
    got = model.layers[-2].accumulators.numpy().ravel()
    # Up to a constant shift: the weights are a softmax of the accumulators, and -200 - 0.25 stays as far below.
    np.testing.assert_allclose(got - got[0], expected - expected[0], rtol=1e-6, atol=1e-5)


def test_gradient_under_0_6_0_log_constraint_reaches_underflowing_weight():
    from libspn_keras import constraints

    model = product_sum_model(constraints.LogNormalized())
    model.layers[-2].set_weights([LOG_WEIGHTS.reshape(1, 1, 4, 1).astype("float32")])
    accumulators = model.layers[-2].accumulators
    with tf.GradientTape() as tape:
        log_p = tf.reduce_sum(model(np.array([[0, 1]], np.int32)))
    # Under a renormalizing constraint the gradient is that of the weights themselves (0.6.0's): d log p / d log w_c
    # is the share of child c in the sum, 1 for the only child the sample reaches.
    np.testing.assert_allclose(tape.gradient(log_p, accumulators).numpy().ravel(), [0.0, 1.0, 0.0, 0.0], atol=1e-6)
