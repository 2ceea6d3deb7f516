"""Leaf layers checked against closed-form log-densities written here in numpy (no scipy, no tfp)."""

import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models

LOG_2PI = np.log(2.0 * np.pi)


def normal_logpdf(x, loc, scale):
    z = (x - loc) / scale
    return -0.5 * z**2 - np.log(scale) - 0.5 * LOG_2PI


def laplace_logpdf(x, loc, scale):
    return -np.abs(x - loc) / scale - np.log(2.0 * scale)


def cauchy_logpdf(x, loc, scale):
    z = (x - loc) / scale
    return -np.log(np.pi * scale * (1.0 + z**2))


def normal_dlogpdf_dloc(x, loc, scale):
    return (x - loc) / scale**2


def laplace_dlogpdf_dloc(x, loc, scale):
    return np.sign(x - loc) / scale


def cauchy_dlogpdf_dloc(x, loc, scale):
    z = (x - loc) / scale
    return 2.0 * z / (scale * (1.0 + z**2))


LEAVES = {
    "normal": (layers.NormalLeaf, normal_logpdf, normal_dlogpdf_dloc),
    "laplace": (layers.LaplaceLeaf, laplace_logpdf, laplace_dlogpdf_dloc),
    "cauchy": (layers.CauchyLeaf, cauchy_logpdf, cauchy_dlogpdf_dloc),
}


def _build_leaf(cls, input_shape, num_components, loc, scale, **kwargs):
    leaf = cls(num_components=num_components, **kwargs)
    leaf.build((None,) + tuple(input_shape))
    leaf.location.assign(loc)
    leaf.scale.assign(scale)
    return leaf


def _random_params(rng, cells, num_components, d):
    shape = tuple(cells) + (num_components, d)
    loc = rng.normal(scale=2.0, size=shape).astype(np.float32)
    scale = rng.uniform(0.3, 3.0, size=shape).astype(np.float32)
    return loc, scale


# ----------------------------------------------------------------------------------------------------------------------
# Continuous leaves: values
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_univariate_log_density_matches_closed_form(name):
    cls, logpdf, _ = LEAVES[name]
    rng = np.random.default_rng(1)
    cells, k = (3, 2), 4
    loc, scale = _random_params(rng, cells, k, 1)
    leaf = _build_leaf(cls, cells + (1,), k, loc, scale)
    x = rng.normal(scale=3.0, size=(5,) + cells + (1,)).astype(np.float32)
    out = leaf(tf.constant(x)).numpy()
    assert out.shape == (5,) + cells + (k,)
    # x [b, r, c, 1] against parameters [r, c, k, 1]
    expected = logpdf(x.astype(np.float64)[..., None, :], loc.astype(np.float64), scale.astype(np.float64)).sum(axis=-1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_known_values(name):
    cls, _, _ = LEAVES[name]
    leaf = _build_leaf(cls, (1,), 2, np.array([[0.0], [1.0]], np.float32), np.array([[1.0], [2.0]], np.float32))
    out = leaf(tf.constant([[0.0], [1.0]])).numpy()
    # Hand-written numbers, independent of the helper formulas above.
    expected = {
        "normal": [[-0.9189385, -0.5 * 0.25 - np.log(2.0) - 0.9189385], [-0.5 - 0.9189385, -np.log(2.0) - 0.9189385]],
        "laplace": [[-np.log(2.0), -0.5 - np.log(4.0)], [-1.0 - np.log(2.0), -np.log(4.0)]],
        "cauchy": [[-np.log(np.pi), -np.log(2.0 * np.pi * 1.25)], [-np.log(2.0 * np.pi), -np.log(2.0 * np.pi)]],
    }[name]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_multivariate_sums_over_last_axis(name):
    cls, logpdf, _ = LEAVES[name]
    rng = np.random.default_rng(2)
    cells, k, d = (4,), 3, 3
    loc, scale = _random_params(rng, cells, k, d)
    leaf = _build_leaf(cls, cells + (d,), k, loc, scale)
    x = rng.normal(scale=2.0, size=(6,) + cells + (d,)).astype(np.float32)
    out = leaf(tf.constant(x)).numpy()
    assert out.shape == (6, 4, k)
    per_dim = logpdf(x.astype(np.float64)[..., None, :], loc.astype(np.float64), scale.astype(np.float64))
    np.testing.assert_allclose(out, per_dim.sum(axis=-1), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# Shapes and parameters
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_spatial_shapes_and_parameter_counts(name):
    cls, _, _ = LEAVES[name]
    leaf = cls(num_components=16)
    model = keras.Sequential([keras.Input((28, 28, 1)), leaf])
    assert tuple(model.output_shape) == (None, 28, 28, 16)
    assert tuple(leaf.compute_output_shape((None, 28, 28, 1))) == (None, 28, 28, 16)
    assert int(np.prod(leaf.location.shape)) == 12544
    assert int(np.prod(leaf.scale.shape)) == 12544
    trainable = sum(int(np.prod(w.shape)) for w in leaf.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in leaf.non_trainable_weights)
    assert trainable == 12544, "locations are trainable by default"
    assert non_trainable == 12544, "scales are non-trainable by default"
    assert leaf.count_params() == 25088
    assert any(w is leaf.location for w in leaf.trainable_weights)
    assert any(w is leaf.scale for w in leaf.non_trainable_weights)
    out = model(np.zeros((2, 28, 28, 1), np.float32))
    assert tuple(out.shape) == (2, 28, 28, 16)


def test_trainability_flags():
    leaf = layers.NormalLeaf(num_components=2, location_trainable=False, scale_trainable=True)
    leaf.build((None, 3, 1))
    assert [w is leaf.scale for w in leaf.trainable_weights] == [True]
    assert [w is leaf.location for w in leaf.non_trainable_weights] == [True]


def test_parameters_are_separate_per_cell():
    # The same input value in two cells gives different log-densities when the cells' parameters differ.
    loc = np.array([[[0.0]], [[3.0]]], np.float32)  # [cells=2, k=1, d=1]
    scale = np.ones_like(loc)
    leaf = _build_leaf(layers.NormalLeaf, (2, 1), 1, loc, scale)
    out = leaf(tf.constant([[[1.0], [1.0]]])).numpy()
    np.testing.assert_allclose(out[0, :, 0], [normal_logpdf(1.0, 0.0, 1.0), normal_logpdf(1.0, 3.0, 1.0)], atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# Missing values
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_nan_inputs_marginalize_and_keep_gradients_finite(name):
    cls, logpdf, dlogpdf = LEAVES[name]
    rng = np.random.default_rng(3)
    cells, k, d = (5,), 3, 2
    loc, scale = _random_params(rng, cells, k, d)
    leaf = _build_leaf(cls, cells + (d,), k, loc, scale)
    x = rng.normal(scale=2.0, size=(4,) + cells + (d,)).astype(np.float32)
    x[0, 1, 0] = np.nan  # one dimension of one variable missing
    x[1, 2, :] = np.nan  # a whole variable missing
    x[2] = np.nan  # a whole sample missing
    with tf.GradientTape() as tape:
        out = leaf(tf.constant(x))
        loss = tf.reduce_sum(out)
    grad = tape.gradient(loss, leaf.location).numpy()
    out = out.numpy()

    assert not np.any(np.isnan(out))
    observed = ~np.isnan(x)
    x64 = np.where(observed, x, 0.0).astype(np.float64)
    per_dim = logpdf(x64[..., None, :], loc.astype(np.float64), scale.astype(np.float64))
    per_dim = np.where(observed[..., None, :], per_dim, 0.0)
    np.testing.assert_allclose(out, per_dim.sum(axis=-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out[1, 2], 0.0)
    np.testing.assert_array_equal(out[2], 0.0)

    assert np.all(np.isfinite(grad)), "NaN inputs must not leak NaN into the location gradients"
    per_dim_grad = dlogpdf(x64[..., None, :], loc.astype(np.float64), scale.astype(np.float64))
    per_dim_grad = np.where(observed[..., None, :], per_dim_grad, 0.0).sum(axis=0)  # sum over batch
    np.testing.assert_allclose(grad, per_dim_grad, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# Indicator leaf
# ----------------------------------------------------------------------------------------------------------------------


def _indicator_reference(x, num_components):
    """0 where the category matches, -inf elsewhere; 0 for every component when the category is missing."""
    x = np.asarray(x, dtype=np.float64)
    missing = np.isnan(x) | (x < 0)
    cats = np.arange(num_components)
    match = np.round(np.where(missing, 0, x))[..., None, :] == cats[:, None]  # [..., K, d]
    per_dim = np.where(match | missing[..., None, :], 0.0, -np.inf)
    return per_dim.sum(axis=-1)


def test_indicator_leaf_one_hot_in_log_space():
    leaf = layers.IndicatorLeaf(num_components=3)
    x = np.array([[[0], [1], [2]], [[2], [2], [0]]], dtype=np.int32)  # [batch, 3 vars, 1]
    out = leaf(tf.constant(x)).numpy()
    assert out.shape == (2, 3, 3)
    expected = np.full((2, 3, 3), -np.inf)
    for b in range(2):
        for v in range(3):
            expected[b, v, x[b, v, 0]] = 0.0
    np.testing.assert_array_equal(out, expected)


def test_indicator_leaf_missing_marker_is_marginalized():
    leaf = layers.IndicatorLeaf(num_components=4)
    x = np.array([[[-1], [3]], [[1], [-1]]], dtype=np.int64)
    out = leaf(tf.constant(x)).numpy()
    np.testing.assert_array_equal(out[0, 0], [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(out[1, 1], [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(out[0, 1], [-np.inf, -np.inf, -np.inf, 0.0])
    np.testing.assert_array_equal(out[1, 0], [-np.inf, 0.0, -np.inf, -np.inf])


def test_indicator_leaf_float_input_with_nan_and_spatial_shape():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(3, 4, 4, 1)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    x[1, 2, 3, 0] = -1.0
    model = keras.Sequential([keras.Input((4, 4, 1)), layers.IndicatorLeaf(num_components=3)])
    assert tuple(model.output_shape) == (None, 4, 4, 3)
    out = model(x).numpy()
    np.testing.assert_array_equal(out, _indicator_reference(x, 3))
    np.testing.assert_array_equal(out[0, 0, 0], 0.0)
    np.testing.assert_array_equal(out[1, 2, 3], 0.0)


def test_indicator_leaf_multivariate_is_product_of_indicators():
    leaf = layers.IndicatorLeaf(num_components=2)
    x = np.array([[[0, 0], [0, 1], [1, -1]]], dtype=np.int32)  # [batch, 3 vars, d=2]
    out = leaf(tf.constant(x)).numpy()
    np.testing.assert_array_equal(out, _indicator_reference(x, 2))
    np.testing.assert_array_equal(out[0, 0], [0.0, -np.inf])
    np.testing.assert_array_equal(out[0, 1], [-np.inf, -np.inf])
    np.testing.assert_array_equal(out[0, 2], [-np.inf, 0.0])


def test_indicator_leaf_has_no_weights():
    leaf = layers.IndicatorLeaf(num_components=2)
    leaf.build((None, 4, 4, 1))
    assert leaf.count_params() == 0


# ----------------------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [layers.NormalLeaf, layers.LaplaceLeaf, layers.CauchyLeaf, layers.IndicatorLeaf])
@pytest.mark.parametrize("bad", [0, -2])
def test_num_components_below_one_raises_with_layer_name(cls, bad):
    with pytest.raises(ValueError, match="my_leaf_name"):
        cls(num_components=bad, name="my_leaf_name")


def test_indicator_refuses_fractional_floats_and_reads_nan_and_minus_one_as_missing():
    # Input contract: only -1 and NaN mark a missing category; -0.4 and 0.4 are not categories.
    leaf = layers.IndicatorLeaf(num_components=2)
    out = leaf(tf.constant([[[-1.0], [1.0], [np.nan]]])).numpy()
    np.testing.assert_array_equal(out[0], [[0.0, 0.0], [-np.inf, 0.0], [0.0, 0.0]])
    for bad in (-0.4, 0.4):
        with pytest.raises(ValueError, match=r"integer categories 0 to 1"):
            leaf(tf.constant([[[bad], [1.0], [np.nan]]]))


def test_continuous_leaf_cdf_matches_the_normal_cdf():
    leaf = layers.NormalLeaf(
        num_components=2,
        location_initializer=keras.initializers.Constant(1.0),
        scale_initializer=keras.initializers.Constant(2.0),
    )
    x = np.array([[[0.0]], [[3.0]]], "float32")
    leaf.build(x.shape)
    cdf = leaf.component_cdf(x).numpy()
    expected = [0.5 * (1 + math.erf((v - 1.0) / (2.0 * math.sqrt(2)))) for v in (0.0, 3.0)]
    np.testing.assert_allclose(cdf[:, 0, 0, 0], expected, rtol=1e-5)
    assert cdf.shape == (2, 1, 2, 1)


def continuous_model_with_integer_input(dtype, normalize=False):
    keras.utils.set_random_seed(0)
    first = [layers.NormalizeStandardScore(axes="global")] if normalize else []
    return models.SequentialSumProductNetwork(
        [keras.Input((4,), dtype=dtype), *first]
        + [
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.ReduceProduct(num_factors=4),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


@pytest.mark.parametrize("normalize", [False, True], ids=["leaf", "normalized"])
def test_minus_one_in_a_signed_integer_input_is_missing_for_continuous_leaves_too(normalize):
    # missing_value: -1 marks a missing entry of a signed integer input for every leaf; the queries write it for
    # hidden entries of such a model. A Normal leaf read it as the value -1.
    x = np.array([[1, 2, 0, 3], [2, 1, 1, 0], [0, 3, 2, 1]])
    mask = np.array([[1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 0]], bool)
    with_integers = continuous_model_with_integer_input("int32", normalize)
    with_floats = continuous_model_with_integer_input("float32", normalize)
    if normalize:
        for model in (with_integers, with_floats):
            model.layers[0].adapt(np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 5.0]]))
    with_integers(x[:1].astype("int32"))
    with_floats(x[:1].astype("float32"))
    with_floats.set_weights(with_integers.get_weights())
    hidden = x.astype("float32")
    hidden[~mask] = np.nan
    # The reference marginalizes by NaN in a float model with the same weights; it differs from reading -1.
    marginal = with_floats.log_likelihood(hidden)
    assert not np.allclose(marginal, with_floats.log_likelihood(np.where(mask, x, -1).astype("float32")))
    np.testing.assert_allclose(with_integers.log_likelihood(x.astype("int32"), evidence_mask=mask), marginal, rtol=1e-6)
    np.testing.assert_allclose(with_integers.log_likelihood(np.where(mask, x, -1).astype("int32")), marginal, rtol=1e-6)
    np.testing.assert_allclose(with_integers(hidden).numpy()[:, 0], marginal, rtol=1e-6)


def test_normalize_standard_score_adapts_without_the_missing_marker_of_integer_data():
    layer = layers.NormalizeStandardScore(axes="global")
    layer.adapt(np.array([[1, -1, 3], [5, 7, -1]], np.int32))
    observed = np.array([1.0, 3.0, 5.0, 7.0])
    np.testing.assert_allclose(float(layer.mean.numpy()), observed.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(layer.std.numpy()), observed.std(), rtol=1e-6)


def test_integer_input_of_continuous_leaves_reads_negative_floats_as_values_and_rounds_completions():
    with_integers = continuous_model_with_integer_input("int32")
    with_floats = continuous_model_with_integer_input("float32")
    x = np.array([[1, -2, 3, 0], [-3, 1, 2, -5]])
    with_integers(x[:1].astype("int32"))
    with_floats(x[:1].astype("float32"))
    with_floats.set_weights(with_integers.get_weights())
    # Float data for the integer input: -2.0 is the value -2 (only NaN and -1.0 mark missing entries).
    expected = with_floats.log_likelihood(x.astype("float32"))
    np.testing.assert_allclose(with_integers.log_likelihood(x.astype("float32")), expected, rtol=1e-6)
    np.testing.assert_allclose(with_integers.log_likelihood(x.astype("int32")), expected, rtol=1e-6)
    # A completion in integer units is the nearest integer to the float model's, not the value cut towards 0.
    mask = np.array([[1, 0, 1, 0], [0, 1, 0, 1]], bool)
    as_floats = with_floats.complete(x.astype("float32"), mask, method="posterior_marginal")
    as_integers = with_integers.complete(x.astype("int32"), mask, method="posterior_marginal")
    assert as_integers.dtype == np.int32
    np.testing.assert_array_equal(as_integers[~mask], np.rint(as_floats[~mask]))
    np.testing.assert_array_equal(as_integers[mask], x[mask])
