"""InputDropout, LogDropout and NormalizeStandardScore against numpy references and exact marginals."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from reference import randomize_accumulators, restore_state, saved_state
from tensorflow import keras

from libspn_keras import layers, models

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


def region_body(leaf, num_vars=4):
    """FlatToRegions(2) -> leaf -> sums/products joining ``num_vars`` (a power of 2) scopes -> RootSum."""
    body = [layers.FlatToRegions(num_decomps=2), leaf, layers.DenseSum(num_sums=2)]
    scopes = num_vars
    while scopes > 1:
        body += [layers.DenseProduct(num_factors=2), layers.DenseSum(num_sums=2 if scopes > 2 else 1)]
        scopes //= 2
    return body + [layers.RootSum(return_weighted_child_logits=False)]


def build(front, leaf, dtype, seed, num_vars=4):
    keras.utils.set_random_seed(seed)
    model = models.SequentialSumProductNetwork([keras.Input((num_vars,), dtype=dtype)] + front + region_body(leaf))
    randomize_accumulators(model, np.random.default_rng(seed), scale=1.0)
    return model


# ---------------------------------------------------------------------------------------------------------------
# InputDropout


def test_input_dropout_is_identity_at_inference():
    x = np.array([[0.5, np.nan, -2.0], [1.0, 2.0, 3.0]], np.float32)
    layer = layers.InputDropout(0.7, seed=1)
    for out in (layer(x), layer(x, training=False)):
        np.testing.assert_array_equal(out.numpy(), x)
    ints = np.array([[0, 1, -1], [1, 1, 0]], np.int32)
    np.testing.assert_array_equal(layers.InputDropout(0.9)(ints, training=False).numpy(), ints)
    np.testing.assert_array_equal(layers.InputDropout(0.0)(x, training=True).numpy(), x)


def test_input_dropout_drops_each_flat_variable_independently():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 8)).astype(np.float32)
    out = layers.InputDropout(0.5, seed=3)(x, training=True).numpy()
    dropped = np.isnan(out)
    np.testing.assert_array_equal(out[~dropped], x[~dropped])  # kept entries are unchanged
    assert abs(dropped.mean() - 0.5) < 0.02
    # Independent per variable: rows dropped entirely or not at all are rare (2 / 2**8 of them).
    all_or_none = np.mean(dropped.all(axis=1) | (~dropped).all(axis=1))
    assert all_or_none < 0.03, f"{all_or_none:.3f} of the rows are dropped as a whole"
    assert np.all(np.abs(dropped.mean(axis=0) - 0.5) < 0.05)


def test_input_dropout_drops_all_dimensions_of_a_variable_together():
    x = np.random.default_rng(1).normal(size=(2000, 5, 3)).astype(np.float32)
    out = layers.InputDropout(0.3, seed=4)(x, training=True).numpy()
    dropped = np.isnan(out)
    assert np.all(dropped.all(axis=-1) == dropped.any(axis=-1)), "the d dimensions of a variable go together"
    assert abs(dropped[..., 0].mean() - 0.3) < 0.02
    np.testing.assert_array_equal(out[~dropped], x[~dropped])


def test_input_dropout_marks_integer_inputs_with_minus_one():
    x = np.ones((1000, 6), np.int32)
    out = layers.InputDropout(0.25, seed=5)(x, training=True).numpy()
    assert out.dtype == np.int32
    assert set(np.unique(out)) == {-1, 1}
    assert abs((out == -1).mean() - 0.25) < 0.03
    np.testing.assert_array_equal(layers.InputDropout(1.0)(x, training=True).numpy(), -np.ones_like(x))


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_input_dropout_rejects_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        layers.InputDropout(rate)


def dropout_model(seeds):
    return models.SequentialSumProductNetwork(
        [
            keras.Input((4,)),
            layers.InputDropout(0.3, seed=seeds[0]),
            layers.FlatToRegions(num_decomps=2),
            layers.NormalLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=2),
            layers.LogDropout(0.3, seed=seeds[1]),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=1),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


# Core: a diagonal of the two axes, the default compile with seeded layers and graph mode with the global seed.
@pytest.mark.parametrize(
    "jit_compile, seeds",
    [
        ("auto", (1, 2)),
        pytest.param("auto", (None, None), marks=pytest.mark.slow),
        pytest.param(False, (1, 2), marks=pytest.mark.slow),
        (False, (None, None)),
    ],
    ids=["auto-seeded", "auto-global_seed", "False-seeded", "False-global_seed"],
)
def test_dropout_training_is_reproducible_under_the_default_xla_compile(seeds, jit_compile):
    # Stateful tf.random ops are not reproducible under XLA (the default compile of SPN models, CPUs included):
    # two identical runs trained on different drops. keras.layers.Dropout's stateless draws are.
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = dropout_model(seeds)
    model.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=jit_compile)
    initial = model.get_weights()
    # A second model built the same way starts from the same state, its layers' seed generators included; the second
    # run is then this model's, from its start state put back (restore_state): the same compiled step, not a second
    # model's (a stateful random op draws anew in each call of one function, as in each of two functions).
    start = saved_state(model)
    keras.utils.set_random_seed(0)
    twin = dropout_model(seeds)
    assert len(twin.variables) == len(model.variables)
    for twin_variable, (_, value) in zip(twin.variables, start):
        np.testing.assert_array_equal(twin_variable.numpy(), value)
    trained = []
    for _ in range(2):
        restore_state(start)
        model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
        trained.append(model.get_weights())
    for first, second in zip(*trained):
        np.testing.assert_array_equal(first, second)
    # The drops changed what was learnt: training without them ends elsewhere, by far more than rounding. Without
    # drops there is nothing random to repeat, so this run is in graph mode (one XLA compile fewer): a step under XLA
    # that dropped nothing would end within rounding of it, not 1e-2 away.
    keras.utils.set_random_seed(0)
    plain = dropout_model(seeds)
    plain.set_weights(initial)
    plain.layers[0].rate, plain.layers[5].rate = 0.0, 0.0
    plain.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=False)
    plain.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(plain.get_weights(), trained[0])) > 1e-2


@pytest.mark.parametrize("kind", ["normal", "indicator"])
def test_input_dropout_rate_one_gives_log_likelihood_zero(kind):
    if kind == "normal":
        model = build([layers.InputDropout(1.0)], layers.NormalLeaf(num_components=3), "float32", seed=1)
        x = np.random.default_rng(2).normal(size=(16, 4)).astype(np.float32)
    else:
        model = build([layers.InputDropout(1.0)], layers.IndicatorLeaf(num_components=2), "int32", seed=2)
        x = np.random.default_rng(2).integers(0, 2, size=(16, 4)).astype(np.int32)
    trained = model(x, training=True).numpy()
    np.testing.assert_allclose(trained, np.zeros((16, 1)), atol=1e-5)
    inference = model(x, training=False).numpy()
    assert np.all(inference < -1e-3), "at inference the input is kept, so probabilities are below 1"
    np.testing.assert_allclose(model.log_likelihood(x), inference[:, 0], rtol=1e-6)


def test_input_dropout_in_training_computes_marginals_of_dropped_subsets():
    model = build([layers.InputDropout(0.5, seed=7)], layers.IndicatorLeaf(num_components=2), "int32", seed=3)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, size=(64, 4)).astype(np.int32)
    # Every marginal of every row: one evidence mask per subset of kept variables (the last keeps all).
    subsets = np.array(list(itertools.product([False, True], repeat=4)))
    marginals = np.stack([model.log_likelihood(x, evidence_mask=np.tile(keep, (64, 1))) for keep in subsets], axis=1)
    full = marginals[:, -1]
    np.testing.assert_allclose(model(x, training=False).numpy()[:, 0], full, rtol=1e-6)
    trained = model(x, training=True).numpy()[:, 0]
    distance = np.abs(marginals - trained[:, None]).min(axis=1)
    assert np.all(distance < 1e-5), "each training output is the marginal of some dropped subset"
    assert np.mean(np.abs(trained - full) > 1e-4) > 0.5, "most rows lose at least one variable"
    # Queries ignore the dropout layer.
    completed = model.complete(np.where(rng.random((64, 4)) < 0.5, -1, x).astype(np.int32))
    assert set(np.unique(completed)) <= {0, 1}


# ---------------------------------------------------------------------------------------------------------------
# LogDropout


def test_log_dropout_identity_at_inference_and_drops_to_minus_infinity_in_training():
    x = np.random.default_rng(0).normal(size=(500, 4, 2, 6)).astype(np.float32)
    layer = layers.LogDropout(0.3, seed=2)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    np.testing.assert_array_equal(layers.LogDropout(0.0)(x, training=True).numpy(), x)
    out = layer(x, training=True).numpy()
    dropped = np.isneginf(out)
    assert abs(dropped.mean() - 0.3) < 0.01
    np.testing.assert_array_equal(out[~dropped], x[~dropped])  # no rescaling of kept children


@pytest.mark.parametrize("rate", [-0.5, 1.0])
def test_log_dropout_rejects_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        layers.LogDropout(rate)


def test_log_dropout_seed_fixes_the_pattern_and_different_seeds_differ():
    x = np.zeros((60, 3, 2, 6), np.float32)

    def dropped(seed):
        tf.random.set_seed(0)  # the same global seed: only the layer's own seed may tell the patterns apart
        return np.isneginf(layers.LogDropout(0.5, seed=seed)(x, training=True).numpy())

    np.testing.assert_array_equal(dropped(1), dropped(1))
    assert np.mean(dropped(1) != dropped(2)) > 0.3  # independent patterns at rate 0.5 differ in half the entries


@pytest.mark.parametrize("rate", [0.5, 0.8])
def test_log_dropout_at_least_one_only_rescues_rows_that_lost_every_child(rate):
    # Each child is kept with probability 1 - rate; a row whose children are all dropped keeps one (the largest
    # draw). So the expected number kept per row of n children is n (1 - rate) + rate ** n, not one more.
    n = 5
    x = np.random.default_rng(6).normal(size=(4000, 2, n)).astype(np.float32)
    out = layers.LogDropout(rate, axis_at_least_one=-1, seed=3)(x, training=True).numpy()
    kept = np.isfinite(out).sum(axis=-1)
    assert kept.min() == 1
    assert kept.mean() == pytest.approx(n * (1 - rate) + rate**n, abs=0.06)
    # The rows with exactly one kept child: those with one survivor, plus those with none (rescued).
    expected_one = n * (1 - rate) * rate ** (n - 1) + rate**n
    assert np.mean(kept == 1) == pytest.approx(expected_one, abs=0.03)


def test_log_dropout_below_sums_only_changes_training_output():
    keras.utils.set_random_seed(4)

    def make(dropout):
        extra = [layers.LogDropout(0.5, seed=1)] if dropout else []
        return models.SequentialSumProductNetwork(
            [keras.Input((4,)), layers.FlatToRegions(num_decomps=2), layers.NormalLeaf(num_components=3)]
            + extra
            + [
                layers.DenseSum(num_sums=2),
                layers.DenseProduct(num_factors=2),
                layers.DenseSum(num_sums=2),
                layers.DenseProduct(num_factors=2),
            ]
            + extra
            + [layers.DenseSum(num_sums=1), layers.RootSum(return_weighted_child_logits=False)]
        )

    with_dropout, without = make(True), make(False)
    without.set_weights(with_dropout.get_weights())
    x = np.random.default_rng(5).normal(size=(200, 4)).astype(np.float32)
    reference = without(x).numpy()
    # Equal up to rounding: without the dropout layer the product/sum pair above it runs fused.
    np.testing.assert_allclose(with_dropout(x, training=False).numpy(), reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(with_dropout.log_likelihood(x), reference[:, 0], rtol=1e-6)
    trained = with_dropout(x, training=True).numpy()
    # Dropping children of a sum removes non-negative terms (no renormalization), so values can only drop.
    assert np.all(trained <= reference + 1e-5)
    assert np.mean(trained < reference - 1e-4) > 0.5
    assert not np.any(np.isnan(trained))
    assert np.any(np.isneginf(trained)), "a sum whose children are all dropped is -inf"


# ---------------------------------------------------------------------------------------------------------------
# NormalizeStandardScore


def with_missing(shape, seed, fraction=0.2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * rng.uniform(0.5, 4.0, size=shape[1:]) + rng.normal(scale=5.0, size=shape[1:])
    x[rng.random(shape) < fraction] = np.nan
    return x.astype(np.float32)


def numpy_standard_score(x, mean, std, epsilon=1e-8):
    return (x.astype(np.float64) - mean) / (std + epsilon)


@pytest.mark.parametrize("shape", [(50, 6), (20, 3, 3, 1)])
def test_sample_wise_matches_numpy(shape):
    x = with_missing(shape, seed=1)
    axes = tuple(range(1, len(shape)))
    mean = np.nanmean(x.astype(np.float64), axis=axes, keepdims=True)
    std = np.nanstd(x.astype(np.float64), axis=axes, keepdims=True)
    layer = layers.NormalizeStandardScore(axes="sample_wise")
    out = layer(x).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))  # missing entries stay missing
    np.testing.assert_allclose(out, numpy_standard_score(x, mean, std), rtol=1e-4, atol=1e-5)
    layer.adapt(x)  # no statistics to learn; a no-op
    np.testing.assert_allclose(layer(x).numpy(), out)


@pytest.mark.parametrize("axes", ["variable_wise", "global"])
@pytest.mark.parametrize("shape", [(300, 5), (200, 3, 2, 1)])
def test_adapted_statistics_match_numpy(axes, shape):
    data = with_missing(shape, seed=2)
    if axes == "variable_wise":
        mean, std = np.nanmean(data.astype(np.float64), axis=0), np.nanstd(data.astype(np.float64), axis=0)
    else:
        mean, std = np.nanmean(data.astype(np.float64)), np.nanstd(data.astype(np.float64))
    layer = layers.NormalizeStandardScore(axes=axes)
    layer.adapt(data)
    np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.std.numpy(), std, rtol=1e-4)
    x = with_missing((7, *shape[1:]), seed=3)
    out = layer(x).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    np.testing.assert_allclose(out, numpy_standard_score(x, mean, std), rtol=1e-4, atol=1e-4)

    from_dataset = layers.NormalizeStandardScore(axes=axes)
    from_dataset.adapt(tf.data.Dataset.from_tensor_slices(data).batch(32))
    np.testing.assert_allclose(from_dataset.mean.numpy(), layer.mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_dataset.std.numpy(), layer.std.numpy(), rtol=1e-5)


@pytest.mark.parametrize("axes", ["sample_wise", "variable_wise", "global"])
def test_inverse_with_statistics_round_trips(axes):
    data = with_missing((100, 4), seed=4)
    layer = layers.NormalizeStandardScore(axes=axes)
    layer.adapt(data)
    x = with_missing((9, 4), seed=5)
    normalized = layer(x)
    back = layer.inverse(normalized, *layer.statistics(tf.constant(x))).numpy()
    np.testing.assert_array_equal(np.isnan(back), np.isnan(x))
    np.testing.assert_allclose(back, x, rtol=1e-5, atol=1e-4)
    # The statistics broadcast against the input.
    mean, std = (np.asarray(s) for s in layer.statistics(tf.constant(x)))
    assert np.broadcast_shapes(mean.shape, x.shape) == x.shape and np.broadcast_shapes(std.shape, x.shape) == x.shape


@pytest.mark.parametrize("axes", ["sample_wise", "variable_wise"])
def test_inverse_undoes_a_large_normalization_epsilon(axes):
    # With epsilon comparable to the std, the forward divides by std + epsilon; the inverse must multiply by it.
    data = np.random.default_rng(8).normal(loc=3.0, scale=0.7, size=(50, 4)).astype(np.float32)
    layer = layers.NormalizeStandardScore(normalization_epsilon=0.5, axes=axes)
    layer.adapt(data)
    x = data[:6]
    # Sample-wise: each sample's own moments; variable-wise: those of the adapted data, per variable.
    source, axis = (x, 1) if axes == "sample_wise" else (data, 0)
    mean, std = source.mean(axis=axis, keepdims=True), source.std(axis=axis, keepdims=True)
    normalized = layer(x)
    np.testing.assert_allclose(normalized.numpy(), (x - mean) / (std + 0.5), rtol=1e-4, atol=1e-5)
    back = layer.inverse(normalized, *layer.statistics(tf.constant(x))).numpy()
    np.testing.assert_allclose(back, x, rtol=1e-5, atol=1e-5)


def test_constant_variable_gives_finite_output():
    data = np.stack([np.full(50, 3.0), np.linspace(-1, 1, 50)], axis=1).astype(np.float32)
    layer = layers.NormalizeStandardScore(axes="variable_wise")
    layer.adapt(data)
    out = layer(data).numpy()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-6)


@pytest.mark.parametrize("axes", ["sample_wise", "variable_wise"])
def test_a_zero_epsilon_scores_a_constant_as_0_and_never_marks_it_missing(axes):
    data = np.array([[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]], np.float32)
    layer = layers.NormalizeStandardScore(normalization_epsilon=0.0, axes=axes)
    layer.adapt(data)
    np.testing.assert_array_equal(layer(data).numpy(), np.zeros_like(data))
    back = layer.inverse(layer(data), *layer.statistics(tf.constant(data))).numpy()
    np.testing.assert_array_equal(back, data)
    # In a model the rows are observed: a density below 1, not the log 1 of a row read as all missing.
    model = models.SequentialSumProductNetwork(
        [
            layers.NormalizeStandardScore(normalization_epsilon=0.0, axes=axes),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2),
            layers.DenseSum(num_sums=1),
            layers.ReduceProduct(num_factors=3),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    model.layers[0].adapt(data)
    log_p = model(data).numpy().ravel()
    assert np.all(np.isfinite(log_p)) and np.all(log_p < -1.0)


def test_bad_axes_rejected():
    with pytest.raises(ValueError, match="axes"):
        layers.NormalizeStandardScore(axes="batch_wise")


@pytest.mark.parametrize(
    "layer",
    [
        layers.InputDropout(0.3, seed=3),
        layers.LogDropout(0.2, seed=None),
        layers.NormalizeStandardScore(axes="variable_wise", epsilon=1e-3),
        layers.NormalizeStandardScore(axes="global"),
        layers.NormalizeStandardScore(),
    ],
    ids=lambda layer: type(layer).__name__ + "-" + str(layer.get_config().get("axes", layer.get_config().get("rate"))),
)
def test_get_config_round_trips(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == config


def test_model_with_dropout_and_normalization_survives_keras_file(tmp_path):
    data = with_missing((200, 4), seed=6)
    keras.utils.set_random_seed(6)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((4,)),
            layers.NormalizeStandardScore(axes="variable_wise"),
            layers.InputDropout(0.2, seed=1),
            layers.FlatToRegions(num_decomps=2),
            layers.NormalLeaf(num_components=3),
            layers.LogDropout(0.1, seed=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=1),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    model.layers[0].adapt(data)
    randomize_accumulators(model, np.random.default_rng(6), scale=1.0)
    path = str(tmp_path / "dropout_norm.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for original, restored in zip(model.layers, loaded.layers):
        assert type(restored) is type(original)
        assert restored.get_config() == original.get_config()
    np.testing.assert_allclose(loaded.layers[0].mean.numpy(), model.layers[0].mean.numpy())
    np.testing.assert_allclose(loaded.layers[0].std.numpy(), model.layers[0].std.numpy())
    x = with_missing((10, 4), seed=7)
    np.testing.assert_allclose(loaded.log_likelihood(x), model.log_likelihood(x), rtol=1e-6)
    np.testing.assert_allclose(loaded.complete(x), model.complete(x), rtol=1e-6)


def test_log_dropout_below_a_product_is_refused():
    with pytest.raises(ValueError, match="directly below DenseProduct"):
        models.SequentialSumProductNetwork(
            [
                keras.Input((4,), dtype="int32"),
                layers.FlatToRegions(num_decomps=1),
                layers.IndicatorLeaf(num_components=2),
                layers.LogDropout(0.1),
                layers.DenseProduct(num_factors=2),
            ]
        )


def test_adapt_accepts_labelled_datasets():
    x = np.random.default_rng(1).normal(loc=2.0, size=(40, 3)).astype("float32")
    labelled = tf.data.Dataset.from_tensor_slices((x, np.zeros(40))).batch(16)
    layer = layers.NormalizeStandardScore(axes="variable_wise")
    layer.adapt(labelled)
    np.testing.assert_allclose(layer.mean.numpy(), x.mean(axis=0), rtol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Errors that name the layer and the fix


def test_log_dropout_noise_shape_that_does_not_broadcast_is_refused_at_build():
    layer = layers.LogDropout(0.5, noise_shape=[3, 1, None])
    with pytest.raises(ValueError, match=r"LogDropout '.*'.*does not broadcast.*input axis 1 has size 4"):
        layer(keras.Input((4, 4, 3)))
    ok = layers.LogDropout(0.5, noise_shape=[1, 4, None])
    assert ok(np.zeros((2, 4, 4, 3), np.float32), training=True).shape == (2, 4, 4, 3)


def test_input_dropout_on_unsigned_input_names_the_layer():
    layer = layers.InputDropout(0.5, name="drop_pixels")
    x = np.ones((2, 4, 4, 1), np.uint8)
    np.testing.assert_array_equal(layer(x, training=False), x)
    with pytest.raises(ValueError, match="InputDropout 'drop_pixels'.*uint8.*signed integer"):
        layer(x, training=True)


def dropout_after_regions():
    leaf = layers.IndicatorLeaf(num_components=2)
    return [keras.Input((4,), dtype="int32"), layers.FlatToRegions(num_decomps=2), layers.InputDropout(0.5), leaf]


def dropout_after_a_dense_leaf():
    return [keras.Input((4,)), layers.FlatToRegions(num_decomps=2), layers.NormalLeaf(num_components=2)] + [
        layers.InputDropout(0.5)
    ]


def dropout_after_a_spatial_leaf():
    return [keras.Input((4, 4, 1)), layers.NormalLeaf(num_components=2), layers.InputDropout(0.5)]


def dropout_after_a_spatial_sum():
    leaf = layers.NormalLeaf(num_components=2)
    return [keras.Input((4, 4, 1)), leaf, layers.Local2DSum(num_sums=2), layers.InputDropout(0.5)]


@pytest.mark.parametrize(
    "stack",
    [dropout_after_regions, dropout_after_a_dense_leaf, dropout_after_a_spatial_leaf, dropout_after_a_spatial_sum],
)
@pytest.mark.parametrize("api", ["sequential", "functional"])
def test_input_dropout_where_dropping_does_not_marginalize_variables_is_refused_at_build(stack, api):
    # After FlatToRegions the copies of a variable in the decompositions would be dropped apart (no marginal);
    # after a leaf the dropped log-probabilities would become NaN.
    stack = stack()
    with pytest.raises(ValueError, match="InputDropout '.*'.*FlatToRegions or a leaf layer.*before FlatToRegions"):
        if api == "sequential":
            models.SequentialSumProductNetwork(stack)
        else:
            tensor = stack[0]
            for layer in stack[1:]:
                tensor = layer(tensor)


def test_variable_wise_statistics_refuse_an_input_of_another_shape():
    layer = layers.NormalizeStandardScore(axes="variable_wise", name="norm")
    layer.adapt(np.random.default_rng(0).normal(size=(6, 4, 4, 1)))
    with pytest.raises(ValueError, match="NormalizeStandardScore 'norm'.*shape \\(4, 4, 1\\).*\\(2, 3, 3, 1\\)"):
        layer(np.zeros((2, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match="NormalizeStandardScore 'norm'.*data given to adapt"):
        layer.adapt(np.zeros((5, 3, 3, 1)))
