"""0.6.0's layer arguments and names: LogDropout, NormalizeStandardScore, PermuteAndPadScopesRandom, inputs."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")

# --- LogDropout --------------------------------------------------------------------------------------------


def test_log_dropout_keeps_at_least_one_child_along_the_axis():
    x = np.random.default_rng(0).normal(size=(200, 3, 2, 5)).astype("float32")
    out = layers.LogDropout(0.95, axis_at_least_one=-1, seed=1)(x, training=True).numpy()
    kept = np.isfinite(out)
    assert kept.sum(axis=-1).min() == 1
    np.testing.assert_array_equal(out[kept], x[kept])
    exactly_one = layers.LogDropout(1.0, axis_at_least_one=-1)(x, training=True).numpy()
    np.testing.assert_array_equal(np.isfinite(exactly_one).sum(axis=-1), 1)
    with pytest.raises(ValueError, match="axis_at_least_one"):
        layers.LogDropout(1.0)


def test_log_dropout_noise_shape_excludes_the_batch_axis():
    x = np.random.default_rng(1).normal(size=(100, 3, 2, 6)).astype("float32")
    out = layers.LogDropout(0.5, noise_shape=[1, 1, 6], seed=2)(x, training=True).numpy()
    dropped = np.isneginf(out)
    # One pattern per sample, shared by all scopes and decompositions.
    np.testing.assert_array_equal(dropped, np.broadcast_to(dropped[:, :1, :1, :], dropped.shape))
    assert 0.3 < dropped[:, 0, 0].mean() < 0.7
    assert not np.all(dropped[:1] == dropped[1:2])
    with pytest.raises(ValueError, match="noise_shape"):
        layers.LogDropout(0.5, noise_shape=[1, 6])(x, training=True)


def test_log_dropout_060_positional_order_and_config():
    layer = layers.LogDropout(0.2, [1, 4], 7, -1)
    assert (layer.rate, layer.noise_shape, layer.seed, layer.axis_at_least_one) == (0.2, [1, 4], 7, -1)
    restored = layers.LogDropout.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()


# --- NormalizeStandardScore ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "axes", [layers.NormalizeAxes.SAMPLE_WISE, "sample-wise", "sample_wise", layers.NormalizeAxes.GLOBAL]
)
def test_normalize_standard_score_060_axes_spellings(axes):
    layer = layers.NormalizeStandardScore(normalization_epsilon=1e-3, axes=axes)
    assert layer.axes in ("sample_wise", "global") and layer.normalization_epsilon == 1e-3
    clone = layers.NormalizeStandardScore.from_config(layer.get_config())
    assert clone.axes == layer.axes
    # 0.6.0's config spelling loads too.
    assert layers.NormalizeStandardScore.from_config({"normalization_epsilon": 0.1, "axes": "variable-wise"}).axes == (
        "variable_wise"
    )


def test_normalize_standard_score_return_stats_as_in_060():
    x = np.random.default_rng(2).normal(loc=3.0, scale=2.0, size=(6, 5)).astype("float32")
    layer = layers.NormalizeStandardScore(normalization_epsilon=0.5)
    normalized, mean, std = layer(x, return_stats=True)
    np.testing.assert_allclose(mean.numpy()[:, 0], x.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(std.numpy()[:, 0], x.std(axis=1), rtol=1e-5)
    expected = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 0.5)
    np.testing.assert_allclose(normalized.numpy(), expected, rtol=1e-5, atol=1e-6)
    always = layers.NormalizeStandardScore(return_stats=True)
    assert len(always(x)) == 3 and not isinstance(always(x, return_stats=False), tuple)


def test_normalize_standard_score_old_and_new_argument_orders():
    assert layers.NormalizeStandardScore("variable_wise").axes == "variable_wise"
    assert layers.NormalizeStandardScore(1e-2).normalization_epsilon == 1e-2
    assert layers.NormalizeStandardScore(epsilon=1e-3).epsilon == 1e-3
    with pytest.raises(ValueError, match="not both"):
        layers.NormalizeStandardScore(normalization_epsilon=1e-3, epsilon=1e-3)


def test_integer_images_flow_into_normalization_and_leaves():
    images = np.random.default_rng(3).integers(0, 256, size=(10, 4, 4, 1)).astype("uint8")
    normalize = layers.NormalizeStandardScore()
    out = normalize(tf.constant(images)).numpy()
    as_float = images.astype("float64")
    expected = (as_float - as_float.mean(axis=(1, 2, 3), keepdims=True)) / (
        as_float.std(axis=(1, 2, 3), keepdims=True) + 1e-8
    )
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    model = keras.Sequential(
        [
            layers.NormalizeStandardScore(input_shape=(4, 4, 1)),
            layers.NormalLeaf(num_components=2),
            layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2], padding="valid"),
            layers.Local2DSum(num_sums=2),
            layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2], padding="valid"),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    np.testing.assert_allclose(model.predict(images, verbose=0), model(images.astype("float32")).numpy(), rtol=1e-5)


# --- PermuteAndPadScopesRandom -----------------------------------------------------------------------------------


def test_permute_and_pad_scopes_random_set_factors():
    layer = layers.PermuteAndPadScopesRandom()
    layer.set_factors([3, 2])
    out = layer(np.zeros((2, 5, 4, 3), "float32"))
    assert out.shape == (2, 6, 4, 3) and layer.factors == [3, 2]
    with pytest.raises(ValueError, match="already built"):
        layer.set_factors([2, 2, 2])


# --- leaves: 0.6.0's base class, leaf representation and EM accumulators -------------------------------------------


def test_base_leaf_and_leaf_representation_names():
    from libspn_keras.layers.base_leaf import BaseLeaf, LeafRepresentation

    assert BaseLeaf is layers.LeafBase and isinstance(layers.NormalLeaf(2), BaseLeaf)
    leaf = layers.NormalLeaf(2, leaf_representation=LeafRepresentation.SAMPLE)
    assert leaf.get_config()["leaf_representation"] == "sample"
    assert layers.NormalLeaf.from_config(leaf.get_config()).leaf_representation is LeafRepresentation.SAMPLE
    assert layers.IndicatorLeaf(2, leaf_representation="mode").leaf_representation is LeafRepresentation.MODE
    with pytest.raises(ValueError, match="leaf_representation"):
        layers.NormalLeaf(2, leaf_representation="median")


@pytest.mark.parametrize("representation", ["mode", "sample"])
def test_leaf_representation_in_reconstructions(representation):
    keras.utils.set_random_seed(5)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((4,)),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2, leaf_representation=representation),
            layers.DenseSum(num_sums=2),
            layers.ReduceProduct(num_factors=4),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    rows = model.zero_evidence_inference(6, seed=1)
    assert rows.shape == (6, 4) and np.all(np.isfinite(rows))
    # Modes make every row the same reconstruction; draws differ from row to row.
    assert np.allclose(rows, rows[:1]) == (representation == "mode")
    # In batches of 4 rows (this library's batch_size): the same modes, seeded draws.
    batched = model.zero_evidence_inference(6, seed=1, batch_size=4)
    assert batched.shape == (6, 4) and np.all(np.isfinite(batched))
    np.testing.assert_array_equal(model.zero_evidence_inference(6, seed=1, batch_size=4), batched)
    if representation == "mode":
        np.testing.assert_allclose(batched, rows, rtol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        model.zero_evidence_inference(6, batch_size=0)


def test_accumulator_initializer_sets_the_initial_em_counts_of_leaves():
    leaf = layers.NormalLeaf(
        num_components=2,
        use_accumulators=True,
        accumulator_initializer=keras.initializers.Constant(5.0),
        location_initializer=keras.initializers.Constant(np.array([1.0, 2.0] * 3)),
        scale_initializer=keras.initializers.Constant(2.0),
    )
    leaf.build((None, 3, 1))
    statistics = leaf.statistics.numpy()
    np.testing.assert_allclose(statistics[..., 0], 5.0)
    # n * (mean, variance) per component, n = 5.
    np.testing.assert_allclose(statistics[0, :, 0, 1:], 5.0 * np.array([[1.0, 4.0], [2.0, 4.0]]))
    np.testing.assert_allclose(leaf.location_tensor().numpy()[0, :, 0], [1.0, 2.0])
    np.testing.assert_allclose(leaf.scale_tensor().numpy(), 2.0, rtol=1e-6)
    assert leaf.get_config()["accumulator_initializer"]["class_name"] == "Constant"
