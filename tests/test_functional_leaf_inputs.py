"""Functional SumProductNetwork models check each leaf against the tensor it reads.

One SPN applied to two inputs checks both; a Keras layer that computes the
leaves' values (``Discretization``, a ``Lambda``) is checked after it, not
before; the SPN layers allowed before a leaf (``NormalizeStandardScore``)
are read through, so ``+inf`` is still refused rather than normalized to a
missing NaN. A dict of named inputs is read by name (a flattened dict is
ordered by key), a layer called with its input by keyword (``spn(inputs=x)``)
is checked too, and float data for an integer input in front of such a layer
must hold whole numbers.
"""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from reference import restore_state, saved_state, seeded_rat_spn
from tensorflow import keras

from libspn_keras import layers, models
from libspn_keras import losses as spnk_losses
from libspn_keras.models.leaf_inputs import leaf_input_probe, leaf_inputs

NUM_VARS = 4


def small_rat_spn(num_categories=2, seed=0):
    return seeded_rat_spn(NUM_VARS, num_categories, seed)


def categories(seed, size=32, low=0, high=2):
    return np.random.default_rng(seed).integers(low, high, size=(size, NUM_VARS)).astype("int32")


def compiled(model, jit_compile, invalid_batches="raise"):
    model.compile(
        keras.optimizers.Adam(0.05),
        loss=spnk_losses.NegativeLogLikelihood(),
        jit_compile=jit_compile,
        invalid_batches=invalid_batches,
    )
    return model


def weights_of(model):
    return [w.copy() for w in model.get_weights()]


def assert_weights_equal(before, after):
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def two_input_model(jit_compile, invalid_batches="raise"):
    spn = small_rat_spn()
    first, second = keras.Input((NUM_VARS,), dtype="int32"), keras.Input((NUM_VARS,), dtype="int32")
    outputs = keras.layers.Add()([spn(first), spn(second)])
    return spn, compiled(models.SumProductNetwork([first, second], outputs), jit_compile, invalid_batches)


# True is what the SPN models' default jit_compile="auto" gives; graph mode (False) stays in the core run in
# test_normalizer_before_a_leaf_is_read_through_so_infinity_is_refused and in the tests compiled with jit_compile=False
# only (the skip policy, the dict of named inputs, the keyword call); the other False cases run with the slow extras.
@pytest.mark.parametrize("jit_compile", [pytest.param(False, marks=pytest.mark.slow), True])
def test_a_category_out_of_range_in_the_second_input_is_refused(jit_compile):
    spn, model = two_input_model(jit_compile)
    good_first, good_second = categories(1), categories(2)
    bad_second = good_second.copy()
    bad_second[5, 2] = 2
    # The references are eager calls of the inner SPN (no predict function of its own to trace).
    expected = spn(good_first).numpy() + spn(good_second).numpy()
    np.testing.assert_allclose(model.predict([good_first, good_second], verbose=0), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="leaves refuse"):
        model.predict([good_first, bad_second], verbose=0)
    before = weights_of(model)
    with pytest.raises(ValueError, match="1 training batch"):
        model.fit([good_first, bad_second], np.zeros(32), batch_size=32, epochs=1, verbose=0)
    assert_weights_equal(before, model.get_weights())
    with pytest.raises(ValueError, match="leaves refuse"):
        model.fit([bad_second, good_first], np.zeros(32), batch_size=32, epochs=1, verbose=0)
    assert_weights_equal(before, model.get_weights())
    model.fit([good_first, good_second], np.zeros(32), batch_size=32, epochs=1, verbose=0)
    assert max(np.max(np.abs(a - b)) for a, b in zip(before, model.get_weights())) > 0


def test_skip_policy_skips_a_batch_refused_in_the_second_input_only():
    _, model = two_input_model(jit_compile=False, invalid_batches="skip")
    start = saved_state(model)
    good_first, second = categories(1, size=64), categories(2, size=64)
    second[40, 0] = 3  # in the second batch of 32
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit([good_first, second], np.zeros(64), batch_size=32, epochs=1, verbose=0, shuffle=False)
    assert any("1 training batch" in str(warning.message) for warning in caught)
    skipped = model.get_weights()
    # Only the first batch trained: the same as the model fitted from its start state on that batch alone (the
    # model's own start state put back instead of a twin model traced again).
    restore_state(start)
    model.fit([good_first[:32], second[:32]], np.zeros(32), batch_size=32, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), skipped):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("jit_compile", [pytest.param(False, marks=pytest.mark.slow), True])
def test_leaves_behind_a_discretization_layer_read_its_categories(jit_compile):
    spn = small_rat_spn(num_categories=3)
    discretize = keras.layers.Discretization(bin_boundaries=[-1.0, 1.0])
    inputs = keras.Input((NUM_VARS,))
    model = compiled(models.SumProductNetwork(inputs, spn(discretize(inputs))), jit_compile)
    x = (np.random.default_rng(0).normal(size=(64, NUM_VARS)) * 3).astype("float32")
    binned = np.digitize(x, [-1.0, 1.0]).astype("int32")
    # The inner SPN is called eagerly, here and below: no predict function of its own to trace (two batch shapes).
    np.testing.assert_allclose(model.predict(x, verbose=0), spn(binned).numpy(), rtol=1e-6)
    history = model.fit(x, np.zeros(64), batch_size=32, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # What the trained model gives is a distribution over the three bins of each variable.
    all_bins = np.stack(np.meshgrid(*[np.arange(3)] * NUM_VARS, indexing="ij"), -1).reshape(-1, NUM_VARS)
    log_probabilities = spn(all_bins.astype("int32")).numpy().reshape(-1)
    np.testing.assert_allclose(np.exp(log_probabilities).sum(), 1.0, rtol=1e-5)


# Slow extras: the leaves after this Lambda are checked under XLA (the default) in the core by
# test_float_data_for_an_integer_input_before_a_computing_layer[True] (the same model: a value read as category 2 of a
# binary leaf refused by predict and fit, nothing written), and evaluate's refusal under XLA by
# test_evaluate_and_predict_refuse_values_instead_of_reading_them_as_missing[functional-auto].
@pytest.mark.slow
@pytest.mark.parametrize("jit_compile", [False, True])
def test_leaves_behind_a_lambda_are_checked_after_it(jit_compile):
    spn = small_rat_spn()
    inputs = keras.Input((NUM_VARS,), dtype="int32")
    shifted = keras.layers.Lambda(lambda t: t - 1, output_shape=(NUM_VARS,))(inputs)
    model = compiled(models.SumProductNetwork(inputs, spn(shifted)), jit_compile)
    x = categories(3, size=32) + 1  # categories 1 and 2, read as 0 and 1
    # The reference is an eager call of the inner SPN (no predict function of its own to trace).
    np.testing.assert_allclose(model.predict(x, verbose=0), spn(x - 1).numpy(), rtol=1e-6)
    model.fit(x, np.zeros(32), batch_size=32, epochs=1, verbose=0)
    before = weights_of(model)
    bad = x.copy()
    bad[0, 0] = 3  # read as category 2 of a binary leaf
    with pytest.raises(ValueError, match="1 training batch"):
        model.fit(bad, np.zeros(32), batch_size=32, epochs=1, verbose=0)
    assert_weights_equal(before, model.get_weights())
    with pytest.raises(ValueError, match="leaves refuse"):
        model.evaluate(bad, np.zeros(32), verbose=0)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_normalizer_before_a_leaf_is_read_through_so_infinity_is_refused(jit_compile):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((NUM_VARS,))
    normalized = layers.NormalizeStandardScore(axes="sample_wise")(inputs)
    regions = layers.FlatToRegions(num_decomps=1)(normalized)
    leaf = layers.NormalLeaf(num_components=2)(regions)
    root = layers.RootSum(return_weighted_child_logits=False)(
        layers.ReduceProduct(num_factors=NUM_VARS)(layers.DenseSum(num_sums=2)(leaf))
    )
    model = compiled(models.SumProductNetwork(inputs, root), jit_compile)
    probe = leaf_input_probe(model)
    assert probe.model is None and [source for _, source in probe.readers] == [[("input", 0)]]
    x = np.random.default_rng(0).normal(size=(16, NUM_VARS)).astype("float32")
    model.fit(x, np.zeros(16), batch_size=16, epochs=1, verbose=0)
    before = weights_of(model)
    x[3, 1] = np.inf
    with pytest.raises(ValueError, match="leaves refuse"):
        model.fit(x, np.zeros(16), batch_size=16, epochs=1, verbose=0)
    assert_weights_equal(before, model.get_weights())


def test_nested_functional_models_are_followed_to_their_leaves():
    spn = small_rat_spn()
    inner_input = keras.Input((NUM_VARS,), dtype="int32")
    inner = models.SumProductNetwork(
        inner_input, spn(keras.layers.Lambda(lambda t: t - 1, output_shape=(NUM_VARS,))(inner_input))
    )
    outer_input = keras.Input((NUM_VARS,), dtype="int32")
    outer = models.SumProductNetwork(
        outer_input, inner(keras.layers.Lambda(lambda t: t + 1, output_shape=(NUM_VARS,))(outer_input))
    )
    x = categories(4, size=8)
    found = leaf_inputs(outer, tf.constant(x))
    assert [leaves for leaves, _ in found] == [models_leaves(spn)]
    np.testing.assert_array_equal(found[0][1].numpy(), x)  # +1 then -1: the leaf reads the input's values


def models_leaves(model):
    return [layer for layer in model.layers if isinstance(layer, layers.IndicatorLeaf)]


def test_probe_of_a_model_compiled_with_a_loss_that_cannot_be_serialized():
    spn = small_rat_spn()
    first, second = keras.Input((NUM_VARS,), dtype="int32"), keras.Input((NUM_VARS,), dtype="int32")
    model = models.SumProductNetwork([first, second], keras.layers.Add()([spn(first), spn(second)]))
    model.compile(keras.optimizers.Adam(0.05), loss=lambda _, y_pred: -tf.reduce_mean(y_pred))
    probe = leaf_input_probe(model)
    assert [sources for _, sources in probe.readers] == [[("input", 0)], [("input", 1)]]
    assert leaf_input_probe(model) is probe  # built once
    bad = categories(1, size=8)
    bad[0, 0] = 5
    with pytest.raises(ValueError, match="leaves refuse"):
        model.predict([categories(2, size=8), bad], verbose=0)


def test_a_sequential_model_has_no_probe_and_checks_its_input():
    spn = small_rat_spn()
    assert leaf_input_probe(spn) is None
    x = tf.constant(categories(1, size=4))
    found = leaf_inputs(spn, x)
    assert len(found) == 1 and found[0][1] is x


def shifted_model(jit_compile):
    """An integer input shifted down by one before a binary RAT-SPN: the data hold categories 1 and 2."""
    spn = small_rat_spn()
    inputs = keras.Input((NUM_VARS,), dtype="int32")
    shifted = keras.layers.Lambda(lambda t: t - 1, output_shape=(NUM_VARS,))(inputs)
    return spn, compiled(models.SumProductNetwork(inputs, spn(shifted)), jit_compile)


@pytest.mark.parametrize("jit_compile", [pytest.param(False, marks=pytest.mark.slow), True])
def test_float_data_for_an_integer_input_before_a_computing_layer(jit_compile):
    spn, model = shifted_model(jit_compile)
    x = categories(5, size=32) + 1
    expected = spn(x - 1).numpy()  # an eager call of the inner SPN: no predict function of its own to trace
    floats = x.astype("float32")
    np.testing.assert_allclose(model(tf.constant(floats)).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(floats, verbose=0), expected, rtol=1e-6)
    model.fit(floats, np.zeros(32), batch_size=32, epochs=1, verbose=0)
    before = weights_of(model)
    # 1.5 would be truncated to category 1 (read as 0): refused as the leaves refuse it without the Lambda.
    floats[2, 3] = 1.5
    with pytest.raises(ValueError, match="whole numbers"):
        model(tf.constant(floats))
    with pytest.raises(ValueError, match="leaves refuse"):
        model.predict(floats, verbose=0)
    with pytest.raises(ValueError, match="1 training batch"):
        model.fit(floats, np.zeros(32), batch_size=32, epochs=1, verbose=0)
    assert_weights_equal(before, model.get_weights())
    floats[2, 3] = 3.0  # a whole number, read as category 2 of a binary leaf: the leaves after the Lambda refuse it
    with pytest.raises(ValueError, match="neither valid nor the missing marker"):
        model(tf.constant(floats))
    with pytest.raises(ValueError, match="leaves refuse"):
        model.predict(floats, verbose=0)
    with pytest.raises(ValueError, match="1 training batch"):
        model.fit(floats, np.zeros(32), batch_size=32, epochs=1, verbose=0)
    assert_weights_equal(before, model.get_weights())


def named_inputs_model():
    """Input "b" (listed first) feeds binary leaves, input "a" leaves of three categories."""
    binary, ternary = small_rat_spn(2, 0), small_rat_spn(3, 1)
    b = keras.Input((NUM_VARS,), dtype="int32", name="b")
    a = keras.Input((NUM_VARS,), dtype="int32", name="a")
    return [b, a], keras.layers.Add()([binary(b), ternary(a)])


def test_a_dict_of_named_inputs_is_checked_by_name():
    inputs, outputs = named_inputs_model()
    model = compiled(models.SumProductNetwork(inputs, outputs), jit_compile=False)
    reference = keras.Model(inputs, outputs)
    b, a = categories(1, size=8, high=2), categories(2, size=8, high=3)
    assert (a == 2).any()  # valid for the leaves of "a", refused by those of "b"
    # The reference is an eager call of the plain Keras model (no predict function of its own to trace).
    np.testing.assert_allclose(
        model.predict({"b": b, "a": a}, verbose=0), reference({"b": b, "a": a}).numpy(), rtol=1e-6
    )
    model.fit({"b": b, "a": a}, batch_size=8, verbose=0)
    bad_b = b.copy()
    bad_b[0, 0] = 2
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="leaves refuse"):
        model.predict({"b": bad_b, "a": categories(3, size=8, high=2)}, verbose=0)
    with pytest.raises(ValueError, match="1 training batch"):
        model.fit({"b": bad_b, "a": categories(3, size=8, high=2)}, batch_size=8, verbose=0)
    for x, y in zip(before, model.get_weights()):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("by_keyword", ["spn", "leaf"])
def test_a_layer_called_with_its_input_by_keyword_is_checked(by_keyword):
    first, second = keras.Input((NUM_VARS,), dtype="int32"), keras.Input((NUM_VARS,), dtype="int32")
    if by_keyword == "spn":
        outputs = keras.layers.Add()([small_rat_spn(2, 0)(first), small_rat_spn(2, 1)(inputs=second)])
    else:
        keras.utils.set_random_seed(0)
        leaf = layers.IndicatorLeaf(num_components=2)

        def head(regions):
            return layers.RootSum(return_weighted_child_logits=False)(
                layers.ReduceProduct(num_factors=NUM_VARS)(layers.DenseSum(num_sums=2)(regions))
            )

        outputs = keras.layers.Add()(
            [head(leaf(layers.FlatToRegions(num_decomps=1)(first))), head(leaf(x=layers.FlatToRegions(1)(second)))]
        )
    model = compiled(models.SumProductNetwork([first, second], outputs), jit_compile=False)
    good = [categories(1, size=8, high=2), categories(2, size=8, high=2)]
    np.testing.assert_allclose(model.predict(good, verbose=0), keras.Model([first, second], outputs)(good), rtol=1e-6)
    bad_second = good[1].copy()
    bad_second[3, 1] = 2
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="leaves refuse"):
        model.predict([good[0], bad_second], verbose=0)
    with pytest.raises(ValueError, match="1 training batch"):
        model.fit([good[0], bad_second], batch_size=8, verbose=0)
    for x, y in zip(before, model.get_weights()):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("jit_compile", [pytest.param(False, marks=pytest.mark.slow), True])
def test_float_data_for_several_integer_inputs_reads_nan_as_missing_and_refuses_fractions(jit_compile):
    spn, model = two_input_model(jit_compile)
    first, second = categories(1, size=8).astype("float32"), categories(2, size=8).astype("float32")
    second[0, 1] = np.nan
    # Eager calls of the inner SPN: no predict function of its own to trace.
    expected = spn(first.astype("int32")).numpy() + spn(np.where(np.isnan(second), -1, second).astype("int32")).numpy()
    np.testing.assert_allclose(model.predict([first, second], verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model([tf.constant(first), tf.constant(second)]).numpy(), expected, rtol=1e-6)
    second[3, 2] = 0.5  # Keras alone would truncate it to category 0
    with pytest.raises(ValueError, match="neither valid nor the missing marker"):
        model([tf.constant(first), tf.constant(second)])
    with pytest.raises(ValueError, match="leaves refuse"):
        model.predict([first, second], verbose=0)
