"""The fast-kernel check of a model holds only when the weights of EVERY sum layer fit the fast kernel.

The repository checks it on models with a single sum layer. Here a DenseSum below a RootSum holds a weight of
e^-200 (outside the fast kernel's range) while the root's single weight fits: the model must take the exact path,
and its outputs must equal the float64 product of the normalized weights.
"""

import math

import numpy as np
import pytest

from libspn_keras import layers, models
from libspn_keras.models.fast_path import fast_kernel_check


def two_sum_layer_spn(input_log_weights):
    """``p(x0, x1) = w0[x0] * w1[x1]``: a DenseSum per variable over two indicators, their product, a root."""
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=1, logspace_accumulators=True, sum_op="grad"),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(logspace_accumulators=True, return_weighted_child_logits=False, sum_op="grad"),
        ]
    )
    model.build((None, 2))
    sums = model.layers[2]
    sums.accumulators.assign(np.reshape(input_log_weights, sums.accumulators.shape).astype(np.float32))
    return model


def reference(input_log_weights, x):
    log_w = np.asarray(input_log_weights, np.float64)
    log_w = log_w - np.logaddexp.reduce(log_w, axis=1, keepdims=True)  # [variable, category], normalized
    return np.array([log_w[0, a] + log_w[1, b] for a, b in x])


X = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.int32)


def test_one_sum_layer_out_of_range_fails_the_whole_models_check():
    fitting = two_sum_layer_spn([[0.0, -1.0], [0.0, 0.5]])
    assert bool(fast_kernel_check(fitting)[1]())
    model = two_sum_layer_spn([[0.0, -200.0], [0.0, 0.0]])  # the root (one child of weight 1) still fits
    accumulators, check = fast_kernel_check(model)
    assert len(accumulators) == 2
    assert not bool(check())


@pytest.mark.parametrize("jit_compile", [True, False])
def test_predict_is_exact_when_a_lower_sum_layer_is_out_of_range(jit_compile):
    input_log_weights = [[0.0, -200.0], [0.0, 0.0]]
    model = two_sum_layer_spn(input_log_weights)
    model.compile(loss=None, jit_compile=jit_compile)
    predicted = model.predict(X, verbose=0).ravel()
    expected = reference(input_log_weights, X)
    assert expected[1] == pytest.approx(-200.0 - math.log(2.0))
    np.testing.assert_allclose(predicted, expected, rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(model.log_likelihood(X), expected, rtol=1e-6, atol=2e-6)
