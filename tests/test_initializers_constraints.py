"""Initializers and constraints: their defining properties, numpy references and serialization."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import constraints, initializers, layers


def _serialize_round_trip(obj):
    restored = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(obj))
    assert type(restored) is type(obj)
    assert restored.get_config() == obj.get_config()
    return restored


# --- Dirichlet ---------------------------------------------------------------


def test_dirichlet_slices_over_children_sum_to_one_and_are_positive():
    weights = initializers.Dirichlet(alpha=0.5, seed=1)((3, 5, 4)).numpy()
    assert np.all(weights > 0)
    np.testing.assert_allclose(weights.sum(axis=-2), 1.0, rtol=1e-5)


def test_dirichlet_logspace_exponentiates_to_normalized_weights():
    log_weights = initializers.Dirichlet(alpha=2.0, logspace=True, seed=2)((6, 3)).numpy()
    assert np.all(np.isfinite(log_weights))
    np.testing.assert_allclose(np.exp(log_weights).sum(axis=-2), 1.0, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dirichlet_small_alpha_gives_nearly_one_hot_draws(dtype):
    # Gamma(0.01) draws underflow to 0; drawn naively, whole slices became flat (1/K each) instead of one-hot.
    weights = initializers.Dirichlet(alpha=0.001, seed=3)((2000, 4, 1), dtype=dtype).numpy()[..., 0]
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.mean(weights.max(axis=-1) > 0.99) > 0.95
    log_weights = initializers.Dirichlet(alpha=0.001, logspace=True, seed=3)((2000, 4, 1), dtype=dtype).numpy()
    assert np.all(np.isfinite(log_weights))


# --- EpsilonInverseFanIn -------------------------------------------------------


@pytest.mark.parametrize("axis, fan_in", [(-2, 5), (0, 2), (-1, 3)])
def test_epsilon_inverse_fan_in_is_epsilon_over_fan_in(axis, fan_in):
    values = initializers.EpsilonInverseFanIn(axis=axis, epsilon=0.02)((2, 5, 3)).numpy()
    assert values.shape == (2, 5, 3)
    np.testing.assert_allclose(values, 0.02 / fan_in, rtol=1e-6)


def test_epsilon_inverse_fan_in_is_a_flat_start_in_a_sum_layer():
    layer = layers.DenseSum(
        num_sums=2, sum_op="em", accumulator_initializer=initializers.EpsilonInverseFanIn(epsilon=1e-3)
    )
    layer.build((None, 3, 1, 4))
    acc = layer.accumulators.numpy()
    np.testing.assert_allclose(acc.sum(axis=-2), 1e-3, rtol=1e-5)
    np.testing.assert_allclose(acc, acc.flat[0])


def test_epsilon_inverse_fan_in_rejects_bad_arguments():
    with pytest.raises(ValueError, match="epsilon"):
        initializers.EpsilonInverseFanIn(epsilon=-1e-4)
    with pytest.raises(ValueError, match="axis"):
        initializers.EpsilonInverseFanIn(axis=3)((2, 2))


# --- Equidistant -----------------------------------------------------------------


def test_equidistant_spaces_components_evenly_and_broadcasts():
    values = initializers.Equidistant(minval=-1.0, maxval=3.0)((2, 3, 5, 2)).numpy()
    expected = np.array([-1.0, 0.0, 1.0, 2.0, 3.0])
    assert values.shape == (2, 3, 5, 2)
    np.testing.assert_allclose(values, np.broadcast_to(expected[:, None], (2, 3, 5, 2)), atol=1e-6)


def test_equidistant_single_component_is_the_midpoint():
    values = initializers.Equidistant(minval=2.0, maxval=4.0)((3, 1, 1)).numpy()
    np.testing.assert_allclose(values, 3.0)


def test_equidistant_as_leaf_location_initializer():
    leaf = layers.NormalLeaf(num_components=4, location_initializer=initializers.Equidistant(0.0, 1.0))
    leaf.build((None, 6, 1))
    np.testing.assert_allclose(leaf.location.numpy()[0, :, 0], [0.0, 1 / 3, 2 / 3, 1.0], atol=1e-6)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "a", None])
def test_equidistant_refuses_ends_that_are_not_finite_numbers(bad):
    # A NaN end gave NaN locations to every leaf it initialized.
    with pytest.raises(ValueError, match=r"Equidistant: (minval|maxval) must be a finite number"):
        initializers.Equidistant(minval=bad)
    with pytest.raises(ValueError, match=r"Equidistant: maxval must be a finite number"):
        initializers.Equidistant(maxval=bad)
    assert initializers.Equidistant(np.float32(1), 0).get_config() == {"minval": 1.0, "maxval": 0.0}


# --- data-based initializers -------------------------------------------------------


def _clustered_data(seed=0, num_per_cluster=200):
    """Samples [N, 4, 2, 1]: 3 well-separated clusters per cell, different centres in every cell."""
    rng = np.random.default_rng(seed)
    cells = (4, 2)
    centres = np.sort(rng.uniform(-10, 10, size=cells + (3,)), axis=-1)
    centres += np.array([0.0, 4.0, 8.0])  # at least 4 apart
    labels = rng.integers(3, size=(3 * num_per_cluster,) + cells)
    means = np.take_along_axis(np.broadcast_to(centres, labels.shape + (3,)), labels[..., None], axis=-1)
    data = means + 0.05 * rng.standard_normal(means.shape)
    return data, centres


# Plain per-cell k-means on all samples (0.6.0's defaults normalize, subsample and group the centres).
PLAIN = dict(samplewise_normalization=False, data_fraction=1.0, group_centroids=False)


def test_kmeans_recovers_cluster_centres_per_cell():
    data, centres = _clustered_data()
    locations = initializers.KMeans(data, num_iters=20, seed=3, **PLAIN)((4, 2, 3, 1)).numpy()
    assert locations.shape == (4, 2, 3, 1)
    np.testing.assert_allclose(locations[..., 0], centres, atol=0.1)


def test_kmeans_is_sorted_and_deterministic_for_a_seed():
    rng = np.random.default_rng(5)
    data = rng.standard_normal((300, 3, 2))
    first = initializers.KMeans(data, seed=7, **PLAIN)((3, 4, 2)).numpy()
    second = initializers.KMeans(data, seed=7, **PLAIN)((3, 4, 2)).numpy()
    np.testing.assert_array_equal(first, second)
    assert np.all(np.diff(first[..., 0], axis=-1) >= 0)


def test_kmeans_broadcasts_size_one_cells_and_checks_shapes():
    data, centres = _clustered_data()
    data = data[:, :, :1]  # one decomposition's worth, broadcast to 3
    locations = initializers.KMeans(data, seed=0, **PLAIN)((4, 3, 3, 1)).numpy()
    np.testing.assert_allclose(locations[..., 0], np.repeat(centres[:, :1], 3, axis=1), atol=0.1)
    with pytest.raises(ValueError, match="does not match"):
        initializers.KMeans(data)((5, 3, 3, 1))
    with pytest.raises(ValueError, match="samples"):
        initializers.KMeans(data[:2], **PLAIN)((4, 1, 3, 1))
    with pytest.raises(ValueError, match="NaN"):
        initializers.KMeans(np.full((4, 2, 1), np.nan))


def test_kmeans_in_a_leaf_and_config_without_data():
    data, centres = _clustered_data()
    init = initializers.KMeans(data, num_iters=15, seed=1, **PLAIN)
    leaf = layers.NormalLeaf(num_components=3, location_initializer=init)
    leaf.build((None, 4, 2, 1))
    np.testing.assert_allclose(leaf.location.numpy()[..., 0], centres, atol=0.1)
    config = init.get_config()
    assert config["num_iters"] == 15 and config["seed"] == 1 and config["group_centroids"] is False
    restored = _serialize_round_trip(init)
    # Without data the restored initializer gives a placeholder that saved weights overwrite.
    np.testing.assert_array_equal(restored((4, 2, 3, 1)).numpy(), 0.0)
    assert init.clone().data is init.data


def test_model_with_data_initializers_saves_and_loads_its_estimates(tmp_path):
    data, _ = _clustered_data(num_per_cluster=50)
    leaf = layers.NormalLeaf(
        num_components=3,
        location_initializer=initializers.KMeans(data, seed=0),
        scale_initializer=initializers.PoonDomingosStddevOfQuantileSplit(data),
    )
    model = keras.Sequential([keras.Input(shape=(4, 2, 1)), leaf])
    path = tmp_path / "leaf.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.layers[0].location.numpy(), leaf.location.numpy())
    np.testing.assert_allclose(loaded.layers[0].scale.numpy(), leaf.scale.numpy())
    assert loaded.layers[0].location_initializer.data is None


def _quantile_bin_reference(data, num_components):
    ordered = np.sort(data, axis=0)
    bins = np.array_split(ordered, num_components, axis=0)
    return np.stack([b.mean(axis=0) for b in bins], axis=-2), np.stack([b.std(axis=0) for b in bins], axis=-2)


@pytest.mark.parametrize("num_samples", [120, 121])
def test_poon_domingos_mean_and_std_match_numpy_quantile_bins(num_samples):
    data = np.random.default_rng(2).gamma(2.0, size=(num_samples, 5, 3, 2))
    means, stds = _quantile_bin_reference(data, 4)
    locations = initializers.PoonDomingosMeanOfQuantileSplit(data)((5, 3, 4, 2), dtype="float64").numpy()
    scales = initializers.PoonDomingosStddevOfQuantileSplit(data)((5, 3, 4, 2), dtype="float64").numpy()
    np.testing.assert_allclose(locations, means, rtol=1e-12)
    np.testing.assert_allclose(scales, np.maximum(stds, 1e-3), rtol=1e-12)
    assert np.all(np.diff(locations, axis=-2) > 0)


def test_poon_domingos_bins_have_equal_size_by_construction():
    data = np.arange(12.0).reshape(12, 1, 1)[::-1]
    locations = initializers.PoonDomingosMeanOfQuantileSplit(data)((1, 3, 1)).numpy()
    np.testing.assert_allclose(locations[0, :, 0], [1.5, 5.5, 9.5])


def test_poon_domingos_stddev_floor_and_configs():
    data = np.ones((10, 2, 1))
    scales = initializers.PoonDomingosStddevOfQuantileSplit(data, epsilon=0.01)((2, 2, 1)).numpy()
    np.testing.assert_allclose(scales, 0.01)
    std_init = initializers.PoonDomingosStddevOfQuantileSplit(data, epsilon=0.01)
    assert std_init.get_config() == {"epsilon": 0.01}
    restored = _serialize_round_trip(std_init)
    np.testing.assert_array_equal(restored((2, 2, 1)).numpy(), 1.0)
    mean_init = initializers.PoonDomingosMeanOfQuantileSplit(data)
    assert mean_init.get_config() == {}
    _serialize_round_trip(mean_init)


# --- constraints ---------------------------------------------------------------------


def test_greater_equal_epsilon_normalized_clips_then_normalizes():
    w = tf.constant([[[-1.0, 2.0], [0.0, 2.0], [3.0, 4.0]]])
    out = constraints.GreaterEqualEpsilonNormalized(epsilon=1e-3)(w).numpy()
    assert np.all(out > 0)
    np.testing.assert_allclose(out.sum(axis=-2), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[0, :, 1], [0.25, 0.25, 0.5], rtol=1e-6)
    # As in 0.6.0 the floor is epsilon divided by the number of children (3 here).
    np.testing.assert_allclose(out[0, :, 0], np.array([1e-3 / 3, 1e-3 / 3, 3.0]) / (3.0 + 2e-3 / 3), rtol=1e-6)
    out_last = constraints.GreaterEqualEpsilonNormalized(axis=-1)(w).numpy()
    np.testing.assert_allclose(out_last.sum(axis=-1), 1.0, rtol=1e-6)
    out_last = constraints.GreaterEqualEpsilonNormalized(epsilon=0.1, axis=-1)(w).numpy()  # 2 children: floor 0.05
    np.testing.assert_allclose(out_last[0, :2], [[0.05 / 2.05, 2.0 / 2.05], [0.05 / 2.05, 2.0 / 2.05]], rtol=1e-6)


def test_log_normalized_exponentiates_to_one():
    w = tf.constant(np.random.default_rng(0).normal(scale=30.0, size=(2, 7, 3)), dtype=tf.float32)
    out = constraints.LogNormalized()(w).numpy()
    np.testing.assert_allclose(np.exp(out).sum(axis=-2), 1.0, rtol=1e-5)
    # The softmax over the axis (the weights a sum layer computes) is unchanged.
    np.testing.assert_allclose(tf.nn.softmax(out, axis=-2), tf.nn.softmax(w, axis=-2), atol=1e-6)
    assert np.all(out <= 0)


def test_clip_keeps_values_in_range():
    w = tf.constant([-5.0, 0.2, 0.5, 9.0])
    np.testing.assert_allclose(constraints.Clip(0.1, 1.0)(w).numpy(), [0.1, 0.2, 0.5, 1.0])
    np.testing.assert_allclose(constraints.Clip(None, 0.3)(w).numpy(), [-5.0, 0.2, 0.3, 0.3])
    with pytest.raises(ValueError, match="greater than"):
        constraints.Clip(2.0, 1.0)


def test_normalizing_constraints_in_sum_layers():
    linear = layers.DenseSum(
        num_sums=2, sum_op="em", linear_accumulator_constraint=constraints.GreaterEqualEpsilonNormalized()
    )
    linear.build((None, 3, 1, 4))
    constrained = linear.accumulators.constraint(linear.accumulators * 7.0).numpy()
    np.testing.assert_allclose(constrained.sum(axis=-2), 1.0, rtol=1e-5)
    log = layers.DenseSum(num_sums=2, logspace_accumulator_constraint=constraints.LogNormalized())
    log.build((None, 3, 1, 4))
    constrained = log.accumulators.constraint(log.accumulators + 3.0).numpy()
    np.testing.assert_allclose(np.exp(constrained).sum(axis=-2), 1.0, rtol=1e-5)


# --- config and serialization round-trips ---------------------------------------------

STATELESS = [
    initializers.Dirichlet(alpha=0.3, logspace=True, seed=4),
    initializers.EpsilonInverseFanIn(axis=-1, epsilon=0.5),
    initializers.Equidistant(minval=-2.0, maxval=5.0),
    constraints.GreaterEqualEpsilon(epsilon=1e-4),
    constraints.GreaterEqualEpsilonNormalized(epsilon=1e-5, axis=-1),
    constraints.LogNormalized(axis=0),
    constraints.Clip(-1.0, 2.5),
    constraints.Clip(0.0, None),
]


@pytest.mark.parametrize("obj", STATELESS, ids=lambda obj: type(obj).__name__)
def test_config_and_serialization_round_trip(obj):
    clone = type(obj).from_config(obj.get_config())
    assert clone.get_config() == obj.get_config()
    restored = _serialize_round_trip(obj)
    shape = (3, 4, 2)
    value = tf.constant(np.random.default_rng(1).normal(size=shape), dtype=tf.float32)
    if isinstance(obj, initializers.Dirichlet):
        assert restored(shape).shape == shape  # random draws: compare the config only
    elif isinstance(obj, keras.initializers.Initializer):
        np.testing.assert_allclose(restored(shape).numpy(), obj(shape).numpy())
    else:
        np.testing.assert_allclose(restored(value).numpy(), obj(value).numpy())


def test_registered_names():
    for obj in STATELESS + [initializers.KMeans(np.zeros((3, 1, 1)))]:
        name = keras.utils.get_registered_name(type(obj))
        assert name == f"libspn_keras>{type(obj).__name__}"


def test_greater_equal_epsilon_takes_any_finite_floor_as_0_6_0_does():
    # 0.6.0 floors its stored softplus^-1 scales with GreaterEqualEpsilon(-2.0); non-finite floors are refused.
    w = tf.constant([-3.0, -2.0, 0.5])
    np.testing.assert_array_equal(constraints.GreaterEqualEpsilon(-2.0)(w).numpy(), [-2.0, -2.0, 0.5])
    np.testing.assert_array_equal(constraints.GreaterEqualEpsilon(0)(w).numpy(), [0.0, 0.0, 0.5])
    for bad in (float("nan"), float("inf"), "1e-3", None, True):
        with pytest.raises(ValueError, match="GreaterEqualEpsilon: epsilon must be a finite number"):
            constraints.GreaterEqualEpsilon(bad)
