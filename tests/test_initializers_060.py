"""0.6.0's arguments of the initializers, constraints and metrics; initial values in 0.6.0's layouts."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

import libspn_keras
from libspn_keras import constraints, initializers, layers, metrics
from libspn_keras.initializers.fitting import initial_values

# --- any layout with the variable's number of elements ------------------------------------------------------


def test_constant_array_fills_a_root_in_060_layout():
    # Keras 3 would broadcast [4] against the [4, 1] accumulators to [4, 4]; 0.6.0 reshaped it.
    weights = np.array([0.25, 0.15, 0.35, 0.25])
    x = np.log(np.random.default_rng(0).uniform(size=(5, 4))).astype("float32")
    for value in (weights, weights.reshape(1, 1, 4, 1)):
        root = layers.RootSum(
            return_weighted_child_logits=False, accumulator_initializer=keras.initializers.Constant(value)
        )
        out = root(x).numpy()
        assert root.accumulators.shape == (4, 1) and out.shape == (5, 1)
        np.testing.assert_allclose(out[:, 0], np.log(np.exp(x) @ weights), rtol=1e-5)
        children = layers.RootSum(accumulator_initializer=keras.initializers.Constant(value))(x).numpy()
        np.testing.assert_allclose(children, x + np.log(weights), rtol=1e-5)


@pytest.mark.parametrize("logspace", [True, False])
def test_dense_sum_array_in_scopes_decomps_children_sums_order(logspace):
    rng = np.random.default_rng(1)
    value = rng.uniform(0.1, 1.0, size=(3, 2, 4, 5))
    layer = layers.DenseSum(
        5, logspace_accumulators=logspace, accumulator_initializer=keras.initializers.Constant(value.ravel())
    )
    x = np.log(rng.uniform(size=(6, 3, 2, 4))).astype("float32")
    out = layer(x).numpy()
    weights = value / value.sum(axis=2, keepdims=True)
    expected = np.log(np.einsum("bsdc,sdcn->bsdn", np.exp(x), weights))
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    stored = np.log(value) if logspace else value
    np.testing.assert_allclose(layer.accumulators.numpy(), stored, rtol=1e-5)


def test_wrong_number_of_values_names_the_layer_and_both_shapes():
    root = layers.RootSum(accumulator_initializer=keras.initializers.Constant(np.ones(5)), name="top")
    with pytest.raises(ValueError, match=r"RootSum 'top'.*\(5,\).*\(4, 1\)"):
        root(np.zeros((2, 4), "float32"))
    leaf = layers.NormalLeaf(3, location_initializer=keras.initializers.Constant(np.zeros(7)), name="leaf")
    with pytest.raises(ValueError, match=r"NormalLeaf 'leaf'.*location.*\(7,\).*\(2, 3, 1\)"):
        leaf(np.zeros((1, 2, 1), "float32"))


def test_leaf_parameters_from_060_layout_arrays():
    # 0.6.0's leaf parameters are [1, scopes, decomps, components, d]; ours drop the leading 1.
    locations = np.arange(2 * 1 * 3 * 1, dtype="float32").reshape(1, 2, 1, 3, 1)
    leaf = layers.NormalLeaf(
        3,
        location_initializer=keras.initializers.Constant(locations),
        scale_initializer=keras.initializers.Constant(np.full((1, 2, 1, 3, 1), 0.5)),
    )
    x = np.array([[[[1.0]], [[4.0]]]], "float32")  # [batch, scopes, decomps, d]
    out = leaf(x).numpy()
    loc = locations.reshape(2, 1, 3)
    expected = -0.5 * ((x - loc) / 0.5) ** 2 - np.log(0.5 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_initial_values_scalar_fill_and_plain_callables():
    np.testing.assert_array_equal(initial_values(keras.initializers.Constant(2.0), (2, 3)).numpy(), 2.0)
    values = initial_values(lambda shape, dtype=None: tf.range(6.0), (3, 2)).numpy()
    np.testing.assert_array_equal(values, np.arange(6.0).reshape(3, 2))


# --- log space ------------------------------------------------------------------------------------------


def test_logspace_wrapper_initializer_logs_values_and_round_trips():
    wrapped = libspn_keras.logspace_wrapper_initializer(keras.initializers.Constant(np.array([1.0, 2.0, 4.0])))
    from libspn_keras.logspace import logspace_wrapper_initializer

    assert logspace_wrapper_initializer is libspn_keras.logspace_wrapper_initializer
    np.testing.assert_allclose(wrapped((3, 1)).numpy()[:, 0], np.log([1.0, 2.0, 4.0]), rtol=1e-6)
    restored = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(wrapped))
    np.testing.assert_allclose(restored((3, 1)).numpy(), wrapped((3, 1)).numpy())
    # An initializer that gives log values already is not logged again.
    log_dirichlet = initializers.Dirichlet(logspace=True)
    assert libspn_keras.logspace_wrapper_initializer(log_dirichlet) is log_dirichlet


def test_log_space_accumulators_reject_non_positive_linear_values():
    layer = layers.DenseSum(2, accumulator_initializer=keras.initializers.Constant(-1.0), name="sums")
    with pytest.raises(ValueError, match="DenseSum 'sums'.*positive"):
        layer.build((None, 1, 1, 3))


def test_dirichlet_log_values_in_log_space_layer_are_weights():
    layer = layers.DenseSum(4, accumulator_initializer=initializers.Dirichlet(alpha=1.0, logspace=True, seed=3))
    layer.build((None, 2, 1, 5))
    np.testing.assert_allclose(np.exp(layer.accumulators.numpy()).sum(axis=-2), 1.0, rtol=1e-5)


# --- 0.6.0 arguments ---------------------------------------------------------------------------------------


def test_dirichlet_060_signature():
    default = initializers.Dirichlet()
    assert (default.axis, default.alpha) == (-2, 0.1)
    values = initializers.Dirichlet(-1, 2.0, seed=1)((3, 4)).numpy()
    np.testing.assert_allclose(values.sum(axis=-1), 1.0, rtol=1e-5)
    per_child = initializers.Dirichlet(axis=0, alpha=[50.0, 1e-3, 50.0], seed=2)((3, 200)).numpy()
    np.testing.assert_allclose(per_child.sum(axis=0), 1.0, rtol=1e-5)
    assert per_child[1].mean() < 0.01 < per_child[0].mean()
    with pytest.raises(ValueError, match="alpha=1.0"):
        initializers.Dirichlet(1.0)
    with pytest.raises(ValueError, match="concentrations"):
        initializers.Dirichlet(alpha=[1.0, 2.0])((3, 2))
    config = initializers.Dirichlet(axis=-1, alpha=[1.0, 2.0]).get_config()
    assert config["axis"] == -1 and config["alpha"] == [1.0, 2.0]


def test_epsilon_inverse_fan_in_060_default():
    np.testing.assert_allclose(initializers.EpsilonInverseFanIn()((4, 2)).numpy(), 1e-4 / 4)


def test_clip_060_keywords_and_new_ones():
    w = tf.constant([-5.0, 0.2, 9.0])
    np.testing.assert_allclose(constraints.Clip(0.0)(w).numpy(), [0.0, 0.2, 9.0])
    np.testing.assert_allclose(constraints.Clip(min=-1.0, max=1.0)(w).numpy(), [-1.0, 0.2, 1.0])
    np.testing.assert_allclose(constraints.Clip(min_value=-1.0, max_value=1.0)(w).numpy(), [-1.0, 0.2, 1.0])
    clip = constraints.Clip(-2.0, 3.0)
    assert (clip.min, clip.max) == (-2.0, 3.0) and clip.get_config() == {"min": -2.0, "max": 3.0}
    assert constraints.Clip.from_config({"min_value": 1.0, "max_value": 2.0}).get_config() == {"min": 1.0, "max": 2.0}
    with pytest.raises(ValueError, match="not both"):
        constraints.Clip(min=1.0, min_value=1.0)


def test_metric_default_names_are_060s():
    assert metrics.LogLikelihood().name == "llh"
    assert metrics.LogJoint().name == "log_joint"


# --- data-based initializers: 0.6.0 options -------------------------------------------------------------------


def _cells_with_clusters(seed=0, n=300, cells=(3, 4), order=None):
    """Samples [n, *cells, 2] from 3 separated clusters per cell; ``order`` permutes the clusters of some cells."""
    rng = np.random.default_rng(seed)
    centres = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    labels = rng.integers(3, size=(n,) + cells)
    per_cell = np.broadcast_to(centres, cells + (3, 2)).copy()
    if order is not None:
        per_cell[0, 0] = per_cell[0, 0][order]
    data = np.take_along_axis(per_cell[None], labels[..., None, None], axis=-2)[..., 0, :]
    return data + 0.05 * rng.standard_normal(data.shape), centres


def test_kmeans_groups_centroids_alike_across_cells():
    data, centres = _cells_with_clusters(order=[2, 0, 1])
    options = dict(samplewise_normalization=False, data_fraction=1.0, seed=4)
    grouped = initializers.KMeans(data, **options)((3, 4, 3, 2)).numpy()
    # Component k is the same centre in every cell (centres ordered by their first dimension).
    np.testing.assert_allclose(grouped, np.broadcast_to(centres, grouped.shape), atol=0.1)
    groups = initializers.KMeans(data, use_groups=True, **options)((3, 4, 3, 2)).numpy()
    np.testing.assert_allclose(groups, np.broadcast_to(groups[0, 0], groups.shape), atol=1e-6)


def test_kmeans_max_num_clusters_repeats_jittered_centres():
    data, centres = _cells_with_clusters(n=200, cells=(2,))
    init = initializers.KMeans(
        data, samplewise_normalization=False, data_fraction=1.0, max_num_clusters=3, jitter_factor=0.01, seed=0
    )
    values = init((2, 6, 2)).numpy()
    np.testing.assert_allclose(values, np.repeat(np.broadcast_to(centres, (2, 3, 2)), 2, axis=1), atol=0.1)
    assert np.all(values[:, 0] != values[:, 1])
    with pytest.raises(ValueError, match="multiple"):
        initializers.KMeans(data, max_num_clusters=4)((2, 6, 2))


def test_kmeans_samplewise_normalization_fraction_and_random_seeding():
    data, _ = _cells_with_clusters(n=400, cells=(2,))
    data = data * 10.0 + 100.0
    values = initializers.KMeans(data, centroid_initialization="random", seed=1)((2, 3, 2)).numpy()
    assert np.abs(values).max() < 5.0  # clustered in normalized units (0.6.0's default)
    assert initializers.KMeans(data, data_fraction=0.01, seed=1)((2, 3, 2)).shape == (2, 3, 2)
    with pytest.raises(ValueError, match="data_fraction"):
        initializers.KMeans(data, data_fraction=0.0)


def test_kmeans_downsample_resizes_images():
    rng = np.random.default_rng(2)
    data = rng.normal(size=(100, 8, 6, 1))
    values = initializers.KMeans(data, downsample=2, seed=0)((8, 6, 4, 1)).numpy()
    assert values.shape == (8, 6, 4, 1) and np.all(np.isfinite(values))
    with pytest.raises(ValueError, match="downsample"):
        initializers.KMeans(rng.normal(size=(20, 5, 1)), downsample=2)((5, 2, 1))


def test_kmeans_config_round_trip_with_all_060_options():
    init = initializers.KMeans(np.zeros((10, 2, 1)), data_fraction=0.5, max_num_clusters=4, downsample=None)
    config = init.get_config()
    for key in (
        "samplewise_normalization",
        "data_fraction",
        "normalization_epsilon",
        "stop_epsilon",
        "num_iters",
        "group_centroids",
        "max_num_clusters",
        "jitter_factor",
        "centroid_initialization",
        "downsample",
        "use_groups",
    ):
        assert key in config
    restored = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(init))
    assert restored.get_config() == config


@pytest.mark.parametrize(
    "cls", [initializers.PoonDomingosMeanOfQuantileSplit, initializers.PoonDomingosStddevOfQuantileSplit]
)
def test_data_initializers_adapt_to_tf_data(cls):
    data = np.random.default_rng(3).normal(size=(64, 3, 1))
    direct = cls(data)((3, 4, 1)).numpy()
    later = cls()
    with pytest.raises(RuntimeError, match="adapt"):
        later((3, 4, 1))
    later.adapt(tf.data.Dataset.from_tensor_slices((data, np.zeros(64))).batch(10))
    np.testing.assert_allclose(later((3, 4, 1)).numpy(), direct, rtol=1e-6)
    np.testing.assert_allclose(cls(tf.data.Dataset.from_tensor_slices(data).batch(7))((3, 4, 1)).numpy(), direct)
