"""Numerics at the extremes: leaf log-densities against float64 references (11.10), normalization at depth 10 (11.9)."""

import math

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp, randomize_accumulators
from tensorflow import keras

from libspn_keras import constraints, layers, models, optimizers
from libspn_keras.math.densities import cauchy_log_prob, laplace_log_prob, normal_log_prob


def reference(kind, x, loc, scale):
    """Float64 log-density from the float32 values actually stored."""
    x, loc, scale = (np.float64(np.float32(v)) for v in (x, loc, scale))
    z = (x - loc) / scale
    if kind == "normal":
        return -0.5 * z * z - math.log(scale) - 0.5 * math.log(2 * math.pi)
    if kind == "laplace":
        return -abs(z) - math.log(2 * scale)
    return -math.log(math.pi * scale) - math.log1p(z * z)


FUNCTIONS = {"normal": normal_log_prob, "laplace": laplace_log_prob, "cauchy": cauchy_log_prob}
LEAVES = {"normal": layers.NormalLeaf, "laplace": layers.LaplaceLeaf, "cauchy": layers.CauchyLeaf}


def test_normal_leaf_far_from_zero_with_a_small_scale_is_exact():
    # The case: scale 1e-4 at location 1e6, evaluated at 1e6 + 1 (TFP's x/scale - loc/scale gave -5.24e7).
    leaf = layers.NormalLeaf(
        num_components=1,
        location_initializer=keras.initializers.Constant(1e6),
        scale_initializer=keras.initializers.Constant(1e-4),
    )
    out = leaf(tf.constant([[[1e6 + 1.0]]], tf.float32)).numpy()[0, 0, 0]
    np.testing.assert_allclose(out, reference("normal", 1e6 + 1.0, 1e6, 1e-4), rtol=1e-6)
    np.testing.assert_allclose(out, -5.00e7, rtol=1e-6)


@pytest.mark.parametrize("kind", ["normal", "laplace", "cauchy"])
@pytest.mark.parametrize(
    "x, loc, scale",
    [
        (1e6 + 1.0, 1e6, 1e-4),
        (-3e7, -3e7 + 2.0, 1e-3),
        (0.5, 0.25, 1.0),
        (1e30, -1e30, 1.0),
        (3.0, 3.0, 1e-30),
        (1e-30, 0.0, 1e-35),
    ],
)
def test_log_densities_match_a_float64_reference(kind, x, loc, scale):
    out = FUNCTIONS[kind](tf.constant(x, tf.float32), tf.constant(loc, tf.float32), tf.constant(scale, tf.float32))
    expected = reference(kind, x, loc, scale)
    if expected < -np.finfo(np.float32).max:
        assert out.numpy() == -np.inf
    else:
        np.testing.assert_allclose(out.numpy(), expected, rtol=2e-6)


@pytest.mark.parametrize("kind", ["normal", "laplace", "cauchy"])
def test_subnormal_scale_never_gives_nan(kind):
    # 1e-38 is below float32's smallest normal number (TensorFlow flushes it to zero on CPU).
    scale = tf.constant([1e-38, 1e-45, 0.0], tf.float32)
    at_location = FUNCTIONS[kind](tf.zeros(3), tf.zeros(3), scale).numpy()
    away = FUNCTIONS[kind](tf.ones(3), tf.zeros(3), scale).numpy()
    assert np.all(np.isfinite(at_location)), at_location
    tiny = np.finfo(np.float32).tiny
    np.testing.assert_allclose(at_location, FUNCTIONS[kind](0.0, 0.0, tf.constant(tiny)).numpy(), rtol=1e-6)
    assert not np.any(np.isnan(away)), away
    assert np.all(away < at_location)


@pytest.mark.parametrize("kind", ["normal", "laplace", "cauchy"])
def test_leaves_use_the_exact_densities_and_their_gradients_are_finite(kind):
    leaf = LEAVES[kind](
        num_components=2,
        location_initializer=keras.initializers.Constant(1e6),
        scale_initializer=keras.initializers.Constant(1e-3),
        scale_trainable=True,
    )
    x = tf.constant([[[1e6 + 0.5]], [[1e6 - 2.0]]], tf.float32)
    with tf.GradientTape() as tape:
        out = leaf(x)
        total = tf.reduce_sum(out)
    gradients = tape.gradient(total, leaf.trainable_variables)
    np.testing.assert_allclose(out.numpy()[1, 0, 0], reference(kind, 1e6 - 2.0, 1e6, 1e-3), rtol=1e-6)
    assert all(np.all(np.isfinite(g.numpy())) for g in gradients)


def test_em_statistics_leaf_uses_the_exact_density():
    leaf = layers.NormalLeaf(
        num_components=1,
        use_accumulators=True,
        location_initializer=keras.initializers.Constant(1e3),
        scale_initializer=keras.initializers.Constant(1e-2),
        scale_constraint=constraints.GreaterEqualEpsilon(1e-6),
    )
    out = leaf(tf.constant([[[1e3 + 1.0]]], tf.float32)).numpy()[0, 0, 0]
    np.testing.assert_allclose(out, reference("normal", 1e3 + 1.0, 1e3, 1e-2), rtol=1e-5)


def test_mode_log_prob_is_the_density_at_the_location():
    leaf = layers.NormalLeaf(num_components=1, scale_initializer=keras.initializers.Constant(1e-3))
    leaf(tf.zeros((1, 1, 1)))
    np.testing.assert_allclose(leaf.mode_log_prob().numpy(), -math.log(1e-3) - 0.5 * math.log(2 * math.pi), rtol=1e-6)


@pytest.mark.parametrize("sum_op", ["grad", "em", "hard_em"])
def test_normalization_error_at_depth_10(sum_op):
    # Issue 11.9: 1 - sum p over all joint assignments was 9.5e-6 at depth 10 (512 variables). For an SPN the
    # sum over all assignments is the network with every variable marginalized (-1).
    keras.utils.set_random_seed(3)
    model = models.build_rat_spn(
        num_vars=512, depth=10, num_decomps=2, num_input_distributions=2, num_sums=2, sum_op=sum_op
    )
    log_total = float(model(-np.ones((1, 512), "int32")).numpy()[0, 0])
    assert abs(1.0 - math.exp(log_total)) <= 1e-6, log_total


# grad: slow extra; the core enumerates through the default predict with em, and checks the grad model's total at
# depth 10 in test_normalization_error_at_depth_10[grad].
@pytest.mark.parametrize("sum_op", ["em", pytest.param("grad", marks=pytest.mark.slow)])
def test_normalization_at_depth_10_by_enumeration_through_the_default_predict(sum_op):
    # Enumerating 8 of the 512 variables (the rest marginalized) sums to one under the default compile (XLA on
    # CPU), where the renormalizing zero sample must round like the batch it corrects.
    keras.utils.set_random_seed(0)
    model = models.build_rat_spn(
        num_vars=512, depth=10, num_decomps=2, num_input_distributions=2, num_sums=2, sum_op=sum_op
    )
    x = np.full((256, 512), -1, np.int32)
    x[:, :8] = all_binary(8)
    model.compile(loss=None)
    log_p = model.predict(x, batch_size=256, verbose=0).astype(np.float64).ravel()
    assert abs(1.0 - math.exp(np_logsumexp(log_p))) <= 1e-6


def test_normalization_error_by_enumeration_at_depth_4():
    keras.utils.set_random_seed(4)
    model = models.build_rat_spn(num_vars=14, depth=4, num_decomps=2, num_input_distributions=2, num_sums=2)
    x = all_binary(14)
    model(x[:1])
    randomize_accumulators(model, np.random.default_rng(4), scale=1.0)
    log_p = model(x).numpy().astype(np.float64)[:, 0]
    assert abs(1.0 - math.exp(np_logsumexp(log_p))) <= 1e-6


@pytest.mark.parametrize("kind", ["normal", "laplace", "cauchy"])
@pytest.mark.parametrize("scale", [1e-3, 1.0])
def test_overflowing_standardized_value_gives_no_nan_gradient(kind, scale):
    """x = +-3e38 is a valid float32 input: z (or 2z, or (x - loc) / scale^2) overflows, yet no gradient is NaN,
    also when the signal reaching the density is 0 (a sample of probability 0, which the models mask).
    """
    x = tf.constant([3e38, -3e38, 0.5], tf.float32)
    loc = tf.Variable([-1e30, 1e30, 0.0])
    log_scale = tf.Variable(tf.fill([3], math.log(scale)))
    for upstream in (tf.ones([3]), tf.zeros([3])):
        with tf.GradientTape() as tape:
            value = FUNCTIONS[kind](x, loc, tf.exp(log_scale))
            total = tf.reduce_sum(tf.where(tf.math.is_finite(value), value, 0.0) * upstream)
        for grad in tape.gradient(total, [loc, log_scale]):
            assert not np.any(np.isnan(grad.numpy())), (kind, scale, grad.numpy())
    if kind == "cauchy":  # finite for every finite x: about -2 log|z| - log(pi * scale)
        stored = np.float64(np.float32(scale))
        expected = -2 * math.log(3e38 / stored) - math.log(math.pi * stored)
        np.testing.assert_allclose(value.numpy()[0], expected, rtol=1e-6)


# CauchyLeaf, LaplaceLeaf: slow extras; the core trains the NormalLeaf model here and checks the Cauchy and Laplace
# densities' gradients at +-3e38 in test_overflowing_standardized_value_gives_no_nan_gradient.
@pytest.mark.parametrize(
    "leaf",
    [
        "NormalLeaf",
        pytest.param("CauchyLeaf", marks=pytest.mark.slow),
        pytest.param("LaplaceLeaf", marks=pytest.mark.slow),
    ],
)
def test_sgd_step_with_a_huge_valid_input_writes_no_nan(leaf):
    x = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    x[0, 0] = 3e38
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((2,)),
            layers.FlatToRegions(1),
            getattr(layers, leaf)(2, scale_trainable=True, scale_initializer=keras.initializers.Constant(1e-3)),
            layers.DenseProduct(2),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    for variable in model.trainable_variables:
        assert np.all(np.isfinite(variable.numpy())), variable.path


@pytest.mark.parametrize("scale", [1e-3, 1.0, 7.0])
def test_cauchy_density_and_gradient_match_float64_on_both_sides_of_the_switch(scale):
    """Around ``|z| = 1e4``, where the density switches from ``log1p(z^2)`` to ``2 log|z|``, and far beyond."""
    z = np.array([0.0, 0.3, -2.0, 1e2, 9999.0, 1e4, 10001.0, -3e4, 1e9, 1e19, -2e19, 1e30], np.float64)
    loc = np.float32(0.25)
    x = (np.float64(loc) + z * np.float64(np.float32(scale))).astype(np.float32)
    loc_variable = tf.Variable(loc)
    with tf.GradientTape() as tape:
        value = cauchy_log_prob(tf.constant(x), loc_variable, tf.constant(scale, tf.float32))
    (gradient,) = tape.jacobian(value, [loc_variable])
    expected = np.array([reference("cauchy", v, loc, scale) for v in x])
    np.testing.assert_allclose(value.numpy(), expected, rtol=2e-7, atol=2e-7)
    stored_z = (x.astype(np.float64) - np.float64(loc)) / np.float64(np.float32(scale))
    expected_gradient = 2.0 * stored_z / (np.float64(np.float32(scale)) * (1.0 + stored_z**2))  # d/d loc
    np.testing.assert_allclose(gradient.numpy(), expected_gradient, rtol=2e-6, atol=1e-30)


def test_cauchy_in_float64_matches_the_exact_density_on_both_sides_of_its_switch():
    """In float64 the density switches to ``2 log|z|`` only where ``log1p(1 / z^2)`` is below its rounding."""
    z = np.array([0.5, 9999.0, 1e4, 10001.0, -3e4, 1e6, 99999999.0, 1e8, -100000001.0, 1e12, 1e160, 1e300])
    value = cauchy_log_prob(tf.constant(z, tf.float64), tf.constant(0.0, tf.float64), tf.constant(1.0, tf.float64))
    # log1p(z^2) = 2 log|z| + log1p(1 / z^2), each part within a rounding step in float64.
    expected = [-(2.0 * math.log(abs(v)) + math.log1p(1.0 / v / v)) - math.log(math.pi) for v in z]
    np.testing.assert_allclose(value.numpy(), expected, rtol=4e-16, atol=0)


def test_cauchy_is_finite_in_float16_beyond_the_square_root_of_its_range():
    half = tf.float16
    value = cauchy_log_prob(tf.constant([300.0, 1e4], half), tf.constant(0.0, half), tf.constant(1.0, half))
    expected = [-math.log(math.pi) - math.log1p(9e4), -math.log(math.pi) - math.log1p(1e8)]
    np.testing.assert_allclose(value.numpy(), expected, rtol=2e-3)


@pytest.mark.parametrize("leaf_class", [layers.NormalLeaf, layers.LaplaceLeaf, layers.CauchyLeaf])
def test_scales_beyond_float32_variances_keep_their_densities_with_accumulators(leaf_class):
    # A scale of 3e19 has a variance beyond float32: read back from the float64 statistics it must not become inf
    # (every density 0, or NaN for Cauchy components after an EM step on data near 1e38).
    x = np.array([[0.0], [1e19], [-3e19]], "float32")

    def model(use_accumulators):
        leaf = leaf_class(
            num_components=1,
            use_accumulators=use_accumulators,
            location_initializer="zeros",
            scale_initializer=keras.initializers.Constant(3e19),
        )
        return models.SequentialSumProductNetwork(
            [
                keras.Input(shape=(1,)),
                layers.FlatToRegions(num_decomps=1),
                leaf,
                layers.RootSum(return_weighted_child_logits=False, sum_op="em" if use_accumulators else None),
            ]
        )

    expected = model(False).predict(x, verbose=0)
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(model(True).predict(x, verbose=0), expected, rtol=1e-6)


def test_an_em_step_to_a_variance_beyond_float32_keeps_a_finite_normal_leaf():
    leaf = layers.NormalLeaf(
        num_components=1,
        use_accumulators=True,
        scale_trainable=True,
        location_initializer="zeros",
        scale_initializer=keras.initializers.Constant(1e19),
    )
    model = models.SequentialSumProductNetwork(
        [keras.Input(shape=(1,)), layers.FlatToRegions(num_decomps=1), leaf, layers.RootSum(False, sum_op="em")]
    )
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=1.0))
    model.fit(np.array([[2e19], [-2e19]] * 8, "float32"), epochs=1, batch_size=16, verbose=0)
    np.testing.assert_allclose(leaf.scale_tensor().numpy().ravel(), [2e19], rtol=1e-6)
    log_p = model.predict(np.array([[0.0], [2e19]], "float32"), verbose=0).ravel()
    # N(0, (2e19)^2): -log(2e19) - log(2 pi) / 2 - z^2 / 2 for z = 0 and 1.
    np.testing.assert_allclose(log_p, -np.log(2e19) - 0.5 * np.log(2 * np.pi) - np.array([0.0, 0.5]), rtol=1e-6)
