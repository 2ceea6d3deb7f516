"""The models' steps skip the log-matmul range check only when the weights make the fast kernel exact."""

import math

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp, randomize_accumulators

import libspn_keras.sum_ops.grad as grad_sum_op
from libspn_keras import layers, models, optimizers
from libspn_keras.math.log_matmul import MIN_FAST_WEIGHT
from libspn_keras.models.fast_path import fast_kernel_check
from libspn_keras.sum_ops.checked import checked_accumulators, is_checked, weights_fit_fast_kernel


def joint_table_spn(log_weights, sum_op="grad", logspace=None):
    """``p(x0, x1) = w[x]``: a root sum over the four products of two binary indicators.

    By default log-space accumulators for gradient training, linear ones (``exp(log_weights)``) for EM.
    """
    logspace = sum_op == "grad" if logspace is None else logspace
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(logspace_accumulators=logspace, return_weighted_child_logits=False, sum_op=sum_op),
        ]
    )
    model.build((None, 2))
    value = np.asarray(log_weights, np.float32) if logspace else np.exp(np.asarray(log_weights, np.float64))
    model.layers[-1].accumulators.assign(np.reshape(value, model.layers[-1].accumulators.shape).astype(np.float32))
    return model


@pytest.mark.parametrize(
    "accumulators, logspace, fits",
    [
        ([[1.0], [1.0]], False, True),
        ([[1.0], [2.0**-99]], False, True),
        ([[1.0], [2.0**-102]], False, False),
        ([[1.0], [0.0]], False, False),
        ([[1.0], [np.nan]], False, False),
        ([[3e38], [3e38]], False, False),  # the total overflows: the exact path, which handles it, runs
        ([[1e-30], [1e-37]], False, False),  # a tiny total: the EM kernel would underflow
        ([[2.0**-20], [2.0**-30]], False, True),  # a small total, a share of 1e-3
        ([[2.0**-25], [2.0**-25], [2.0**-110]], False, False),  # a share of 2^-86, but an accumulator of 2^-110
        ([[2.0**70], [1.0]], False, False),  # a total the EM kernel's gradient could not represent
        ([[1e-30], [0.0]], False, False),
        ([[0.0], [0.0]], False, False),
        ([[0.0], [-60.0]], True, True),
        ([[0.0], [-80.0]], True, False),
        ([[50.0], [-15.0]], True, True),
    ],
)
def test_weights_fit_the_fast_kernel_only_when_every_normalized_weight_is_large_enough(accumulators, logspace, fits):
    assert math.log(MIN_FAST_WEIGHT) == pytest.approx(-69.3147, abs=1e-3)
    result = weights_fit_fast_kernel(tf.constant(accumulators, tf.float32), logspace)
    assert bool(result) is fits


def test_predict_is_exact_for_em_accumulators_of_a_tiny_total():
    """Accumulators totalling 2^-24, one of them 2^-100 of that, under a sum fused with the product above it.

    Its most likely child has the tiny accumulator, the two others products just below the smallest normal
    float, which flush to 0 in a kernel contracting the accumulators themselves (2.2x too small a probability).
    """
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=3),
            layers.DenseSum(num_sums=1, sum_op="em"),
            layers.ReduceProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    model.build((None, 2))
    leaf, dense = model.layers[1], model.layers[2]
    total = 2.0**-24
    accumulators = np.full((2, 1, 3, 1), (total - MIN_FAST_WEIGHT * total) / 2)
    accumulators[:, :, 0] = MIN_FAST_WEIGHT * total
    dense.accumulators.assign(accumulators.astype(np.float32))
    distance = math.sqrt(-2 * math.log(0.99 * 2.0**-126 / float(np.float32(accumulators[0, 0, 1, 0]))))
    location = np.zeros((2, 1, 3, 1), np.float32)
    location[:, :, 1:] = -distance
    leaf.location.assign(location)
    means = np.asarray(leaf.location_tensor(), np.float64).reshape(2, 3)
    scales = np.asarray(leaf.scale_tensor(), np.float64).reshape(2, 3)
    weights = accumulators.astype(np.float32).astype(np.float64).reshape(2, 3)
    weights /= weights.sum(axis=1, keepdims=True)
    log_densities = -0.5 * (means / scales) ** 2 - np.log(scales) - 0.5 * math.log(2 * math.pi)
    expected = sum(np_logsumexp(log_densities[v] + np.log(weights[v])) for v in range(2))
    x = np.zeros((1, 2), np.float32)
    model.compile(loss=None)
    np.testing.assert_allclose(model.predict(x, verbose=0).ravel(), [expected], rtol=1e-6)
    np.testing.assert_allclose(model(x).numpy().ravel(), [expected], rtol=1e-6)


def test_checked_accumulators_are_known_only_inside_the_block():
    first, second = tf.Variable([[1.0]]), tf.Variable([[1.0]])
    assert not is_checked(first)
    with checked_accumulators([first]):
        assert is_checked(first) and not is_checked(second)
    assert not is_checked(first)


def reference_log_likelihoods(log_weights):
    """Brute force: the joint table is the normalized weights themselves, in the order of the four products."""
    log_weights = np.asarray(log_weights, np.float64)
    return np.sort(log_weights - np_logsumexp(log_weights))


@pytest.mark.parametrize("jit_compile", [True, False])
def test_predict_takes_the_fast_kernel_for_ordinary_weights(monkeypatch, jit_compile):
    seen = []
    monkeypatch.setattr(grad_sum_op, "is_checked", lambda acc: seen.append(is_checked(acc)) or seen[-1])
    log_weights = [0.0, -1.0, -2.0, 0.5]
    model = joint_table_spn(log_weights)
    model.compile(loss=None, jit_compile=jit_compile)
    predicted = model.predict(all_binary(2), verbose=0)
    assert seen and all(seen)  # traced once, with the range check skipped
    np.testing.assert_allclose(np.sort(predicted.ravel()), reference_log_likelihoods(log_weights), atol=2e-6)


@pytest.mark.parametrize("jit_compile", [True, False])
def test_a_weight_below_the_fast_kernels_range_gets_the_exact_sum(monkeypatch, jit_compile):
    seen = []
    monkeypatch.setattr(grad_sum_op, "is_checked", lambda acc: seen.append(is_checked(acc)) or seen[-1])
    log_weights = [0.0, 0.0, 0.0, -200.0]
    model = joint_table_spn(log_weights)
    accumulators, check = fast_kernel_check(model)
    assert len(accumulators) == 1 and not bool(check())
    model.compile(loss=None, jit_compile=jit_compile)
    predicted = np.sort(model.predict(all_binary(2), verbose=0).ravel())
    assert seen and not any(seen)
    expected = reference_log_likelihoods(log_weights)
    assert expected[0] == pytest.approx(-200.0 - math.log(3.0))
    np.testing.assert_allclose(predicted, expected, rtol=1e-6, atol=2e-6)

    # The fast kernel alone cannot represent e^-200: the check is what keeps the result exact.
    with checked_accumulators(accumulators):
        fast = np.sort(model(all_binary(2)).numpy().ravel())
    assert not np.isclose(fast[0], expected[0], atol=1.0)  # -inf or floored at log 2^-100


def test_training_with_em_stays_exact_after_a_weight_leaves_the_fast_range():
    model = joint_table_spn([0.0, 0.0, 0.0, 0.0], sum_op="em")
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.5), loss=None)
    data = np.tile(all_binary(2)[:3], (8, 1))
    model.fit(data, epochs=1, batch_size=24, verbose=0)
    accumulators, check = fast_kernel_check(model)
    assert bool(check())
    # e^-80 is a normal float32 but below 2^-100: from here on the steps must take the exact path.
    tiny = np.float32(np.exp(-80.0))
    assert tiny > 0
    shape = accumulators[0].shape
    accumulators[0].assign(np.reshape([1.0, 1.0, 1.0, tiny], shape).astype(np.float32))
    assert not bool(check())
    before = np.sort(model.predict(all_binary(2), verbose=0).ravel())
    np.testing.assert_allclose(before, reference_log_likelihoods([0.0, 0.0, 0.0, -80.0]), rtol=1e-5, atol=2e-6)
    model.fit(data, epochs=1, batch_size=24, verbose=0)
    weights = accumulators[0].numpy().ravel().astype(np.float64)
    assert np.all(np.isfinite(weights)) and np.all(weights >= 0)
    predicted = np.sort(model.predict(all_binary(2), verbose=0).ravel())
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(predicted, reference_log_likelihoods(np.log(weights)), rtol=1e-5, atol=2e-6)


# hard_em's forward pass is em's (linear accumulators, the op acts in the backward pass only), and
# unweighted_hard_em, another hard-EM op, stays in the core run.
@pytest.mark.parametrize(
    "sum_op", ["grad", "em", pytest.param("hard_em", marks=pytest.mark.slow), "unweighted_hard_em"]
)
def test_predict_on_the_fast_path_is_normalized_under_every_sum_op(sum_op):
    tf.keras.utils.set_random_seed(3)
    model = models.build_rat_spn(
        num_vars=5, depth=2, num_decomps=2, num_input_distributions=3, num_sums=3, sum_op=sum_op
    )
    model.build((None, 5))
    randomize_accumulators(model, np.random.default_rng(4), scale=3.0)
    accumulators, check = fast_kernel_check(model)
    assert len(accumulators) >= 3 and bool(check())
    model.compile(loss=None)
    log_probabilities = model.predict(all_binary(5), verbose=0).ravel()
    assert np_logsumexp(log_probabilities) == pytest.approx(0.0, abs=2e-6)


@pytest.mark.parametrize("log_weights", [[0.0, -1.0, -2.0, 0.5], [0.0, 0.0, 0.0, -200.0]])
def test_compiled_queries_are_exact_on_both_sides_of_the_fast_range(log_weights):
    model = joint_table_spn(log_weights)
    model.compile(loss=None)  # XLA for the queries too
    x = all_binary(2)
    expected = reference_log_likelihoods(log_weights)
    np.testing.assert_allclose(np.sort(model.log_likelihood(x)), expected, rtol=1e-6, atol=2e-6)
    # Completing x1 picks the most probable value given x0, as the (brute-force checked) joint says.
    joint = model.log_likelihood(x).reshape(2, 2, order="F")  # all_binary: x0 varies fastest
    completed = model.complete(np.array([[0, -1], [1, -1]], np.int32))
    np.testing.assert_array_equal(completed[:, 1], np.argmax(joint, axis=1))
