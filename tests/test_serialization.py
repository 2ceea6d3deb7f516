"""Config round-trips, output shapes, and ``model.save`` / ``load_model`` without ``custom_objects``."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

import libspn_keras
from libspn_keras import layers, losses, metrics

# (id, layer factory, input shape without batch, kind of input)
CASES = [
    ("normal_leaf", lambda: layers.NormalLeaf(num_components=3), (4, 4, 1), "real"),
    ("normal_leaf_multivariate", lambda: layers.NormalLeaf(num_components=2, scale_trainable=True), (3, 2), "real"),
    ("laplace_leaf", lambda: layers.LaplaceLeaf(num_components=3, location_trainable=False), (4, 4, 1), "real"),
    ("cauchy_leaf", lambda: layers.CauchyLeaf(num_components=3, scale_initializer="ones"), (4, 4, 1), "real"),
    ("indicator_leaf", lambda: layers.IndicatorLeaf(num_components=3), (4, 4, 1), "categorical"),
    (
        "conv2d_product_depthwise",
        lambda: layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=True),
        (4, 4, 3),
        "log",
    ),
    (
        "conv2d_product_full_padding",
        lambda: layers.Conv2DProduct(strides=1, dilations=2, kernel_size=2, padding="full", depthwise=True),
        (3, 3, 2),
        "log",
    ),
    (
        "conv2d_product_final_padding",
        lambda: layers.Conv2DProduct(strides=1, dilations=2, kernel_size=2, padding="final", depthwise=True),
        (4, 4, 2),
        "log",
    ),
    (
        "conv2d_product_one_hot_all",
        lambda: layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2),
        (4, 4, 2),
        "log",
    ),
    (
        "conv2d_product_one_hot_seeded",
        lambda: layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, num_channels=5, seed=7),
        (4, 4, 2),
        "log",
    ),
    (
        "conv2d_product_one_hot_random",
        lambda: layers.Conv2DProduct(strides=[1, 2], dilations=1, kernel_size=[1, 2], num_channels=6),
        (2, 4, 3),
        "log",
    ),
    ("local2d_sum", lambda: layers.Local2DSum(num_sums=3), (2, 3, 4), "log"),
    (
        "local2d_sum_em_linear",
        lambda: layers.Local2DSum(num_sums=3, sum_op="em", logspace_accumulators=False),
        (2, 3, 4),
        "log",
    ),
    ("conv2d_sum", lambda: layers.Conv2DSum(num_sums=3), (2, 3, 4), "log"),
    (
        "conv2d_sum_hard_em",
        lambda: layers.Conv2DSum(num_sums=3, backprop_mode=libspn_keras.BackpropMode.HARD_EM),
        (2, 3, 4),
        "log",
    ),
    ("spatial_to_regions", lambda: layers.SpatialToRegions(), (2, 3, 4), "log"),
    ("dense_sum", lambda: layers.DenseSum(num_sums=3), (3, 2, 4), "log"),
    (
        "dense_sum_em_linear",
        lambda: layers.DenseSum(
            num_sums=3,
            sum_op="em",
            logspace_accumulators=False,
            accumulator_initializer=keras.initializers.RandomUniform(0.1, 3.0),
        ),
        (3, 2, 4),
        "log",
    ),
    ("root_sum_logits", lambda: layers.RootSum(return_weighted_child_logits=True), (1, 1, 5), "log"),
    ("root_sum_log_p", lambda: layers.RootSum(return_weighted_child_logits=False), (1, 2, 3), "log"),
    ("root_sum_flat", lambda: layers.RootSum(), (4,), "log"),
    (
        "root_sum_em_linear",
        lambda: layers.RootSum(return_weighted_child_logits=False, sum_op="em", logspace_accumulators=False),
        (1, 1, 5),
        "log",
    ),
]
IDS = [case[0] for case in CASES]


def _inputs(shape, kind, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "categorical":
        return rng.integers(0, 3, size=(batch,) + shape).astype("float32")
    if kind == "log":
        return (rng.normal(size=(batch,) + shape) * 2 - 3).astype("float32")
    return rng.normal(size=(batch,) + shape).astype("float32")


def _randomize_weights(model, seed=0):
    """Gives every weight a random value, so a round trip that drops a weight is caught."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for weight in layer.weights:
            if isinstance(layer, layers.Conv2DProduct):
                continue  # the 0/1 kernel is the structure; kept as it is
            value = rng.uniform(0.2, 2.0, size=weight.shape).astype("float32")
            weight.assign(value)


@pytest.mark.parametrize("factory, shape, kind", [case[1:] for case in CASES], ids=IDS)
def test_config_round_trip(factory, shape, kind):
    layer = factory()
    config = layer.get_config()
    restored = type(layer).from_config(config)
    assert restored.get_config() == config
    # The same after building, and through Keras' generic (de)serialization without custom_objects.
    layer(keras.Input(shape))
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    serialized = keras.utils.serialize_keras_object(layer)
    deserialized = keras.utils.deserialize_keras_object(serialized)
    assert type(deserialized) is type(layer)
    assert deserialized.get_config() == config


@pytest.mark.parametrize("factory, shape, kind", [case[1:] for case in CASES], ids=IDS)
def test_compute_output_shape_matches_output(factory, shape, kind):
    layer = factory()
    symbolic = layer(keras.Input(shape))
    assert tuple(layer.compute_output_shape((None,) + shape)) == tuple(symbolic.shape)
    eager = layer(_inputs(shape, kind, batch=3))
    assert tuple(layer.compute_output_shape((3,) + shape)) == tuple(eager.shape)
    # An unbuilt layer computes the same shape.
    assert tuple(factory().compute_output_shape((3,) + shape)) == tuple(eager.shape)


@pytest.mark.parametrize("factory, shape, kind", [case[1:] for case in CASES], ids=IDS)
def test_saved_model_gives_identical_outputs(factory, shape, kind, tmp_path):
    keras.utils.set_random_seed(11)
    model = keras.Sequential([keras.Input(shape), factory()])
    _randomize_weights(model)
    x = _inputs(shape, kind, batch=4, seed=1)
    expected = model(x).numpy()
    path = tmp_path / "m.keras"
    model.save(path)
    # Draw fresh random numbers before loading, so nothing random can be reproduced by chance.
    keras.utils.set_random_seed(12345)
    np.random.seed(54321)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[0]) is type(model.layers[0])
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-6)
    for original, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(original.numpy(), restored.numpy())


def _one_hot_picks(layer):
    return np.argmax(layer.kernel.numpy(), axis=2)  # [kr, kc, out]: input channel of every kernel cell


def test_one_hot_random_channel_subset_survives_save(tmp_path):
    # Without a seed, every build draws its own subset; the saved kernel must win over the new draw.
    layer = layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, num_channels=7)
    model = keras.Sequential([keras.Input((4, 4, 3)), layer])
    picks = _one_hot_picks(layer)
    assert picks.shape == (2, 2, 7)
    # Each kernel cell uses every input channel about equally often (0.6.0's draw; combinations may repeat).
    for cell in picks.reshape(4, 7):
        assert np.ptp(np.bincount(cell, minlength=3)) <= 1
    np.testing.assert_array_equal(layer.kernel.numpy().sum(axis=2), 1.0)
    x = _inputs((4, 4, 3), "log", batch=5)
    expected = model(x).numpy()
    # Independent reference of the products: the sum over each 2x2 window of the picked channels.
    windows = x.reshape(5, 2, 2, 2, 2, 3).transpose(0, 1, 3, 2, 4, 5)  # [b, r, c, kr, kc, ch]
    reference = sum(windows[:, :, :, i, j, picks[i, j]] for i in range(2) for j in range(2))
    np.testing.assert_allclose(expected, reference, rtol=1e-6)

    model.save(tmp_path / "m.keras")
    keras.utils.set_random_seed(999)
    np.random.seed(999)
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(_one_hot_picks(loaded.layers[0]), picks)
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-6)


def test_one_hot_seed_is_deterministic():
    def picks(seed):
        layer = layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, num_channels=5, seed=seed)
        layer(keras.Input((4, 4, 2)))
        return _one_hot_picks(layer)

    np.testing.assert_array_equal(picks(3), picks(3))
    assert not np.array_equal(picks(3), picks(4))


def _full_spn(sum_kwargs, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            layers.NormalLeaf(num_components=3, scale_trainable=True),
            layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, num_channels=8),
            layers.Local2DSum(num_sums=3, **sum_kwargs),
            layers.Conv2DProduct(strides=1, dilations=1, kernel_size=2, padding="full", depthwise=True),
            layers.Conv2DSum(num_sums=2, **sum_kwargs),
            layers.Conv2DProduct(strides=1, dilations=2, kernel_size=2, padding="final", depthwise=True),
            layers.SpatialToRegions(),
            layers.DenseSum(num_sums=3, **sum_kwargs),
            layers.RootSum(return_weighted_child_logits=True, **sum_kwargs),
        ]
    )


@pytest.mark.parametrize(
    "sum_kwargs",
    [
        dict(),
        dict(sum_op="em", logspace_accumulators=False),
        dict(backprop_mode=libspn_keras.BackpropMode.HARD_EM_UNWEIGHTED),
    ],
    ids=["grad", "em_linear", "unweighted_hard_em"],
)
def test_whole_spn_round_trip(sum_kwargs, tmp_path):
    model = _full_spn(sum_kwargs)
    _randomize_weights(model, seed=3)
    x = _inputs((4, 4, 1), "real", batch=6, seed=2)
    expected = model(x).numpy()
    assert expected.shape == (6, 3) and np.all(np.isfinite(expected))
    model.save(tmp_path / "m.keras")
    keras.utils.set_random_seed(77)
    np.random.seed(77)
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for original, restored in zip(model.layers, loaded.layers):
        assert original.get_config() == restored.get_config()
        if hasattr(original, "sum_op"):
            assert type(restored.sum_op) is type(original.sum_op)
            assert restored.logspace_accumulators == original.logspace_accumulators
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-6)


def test_compiled_model_round_trip_keeps_loss_and_metrics(tmp_path):
    model = _full_spn({}, seed=1)
    model.compile(optimizer="adam", loss=losses.NegativeLogJoint(), metrics=[metrics.LogJoint()])
    x = _inputs((4, 4, 1), "real", batch=8, seed=4)
    y = np.arange(8) % 3
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.evaluate(x, y, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.loss, losses.NegativeLogJoint)
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), expected, rtol=1e-6)
    # Training continues after loading.
    loaded.fit(x, y, epochs=1, verbose=0)


def test_seed_model_round_trip(tmp_path):
    try:
        from test_seed_example import build_seed_model
    except ImportError:  # tests/ imported as a package
        from tests.test_seed_example import build_seed_model

    model = build_seed_model(seed=8)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 28, 28, 1)).astype("float32")
    # Move the accumulators away from their initial values so that a dropped weight shows.
    for layer in model.layers:
        if hasattr(layer, "accumulators"):
            layer.accumulators.assign(rng.normal(size=layer.accumulators.shape).astype("float32"))
    expected = model(x).numpy()
    model.save(tmp_path / "seed.keras")
    keras.utils.set_random_seed(1)
    loaded = keras.models.load_model(tmp_path / "seed.keras")
    assert loaded.count_params() == 1_214_498
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-6)


def test_layers_registered_under_package():
    for cls in (
        layers.NormalLeaf,
        layers.LaplaceLeaf,
        layers.CauchyLeaf,
        layers.IndicatorLeaf,
        layers.Conv2DProduct,
        layers.Local2DSum,
        layers.Conv2DSum,
        layers.SpatialToRegions,
        layers.DenseSum,
        layers.RootSum,
    ):
        name = keras.utils.get_registered_name(cls)
        assert name == f"libspn_keras>{cls.__name__}"
        assert keras.utils.get_registered_object(name) is cls


def test_loaded_layers_run_under_tf_function(tmp_path):
    model = _full_spn(dict(sum_op="em", logspace_accumulators=False), seed=5)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    x = tf.constant(_inputs((4, 4, 1), "real", batch=2))
    np.testing.assert_allclose(tf.function(loaded)(x).numpy(), model(x).numpy(), rtol=1e-5)
