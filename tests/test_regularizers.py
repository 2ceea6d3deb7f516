"""Regularizers of normalized sum weights and data softening: values against numpy, effect, normalization."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from reference import np_logsumexp
from tensorflow import keras

from libspn_keras import layers, models, optimizers, regularizers
from libspn_keras.region_graph import random_region_graph


def numpy_weights(accumulators, logspace):
    if logspace:
        e = np.exp(accumulators - accumulators.max(axis=-2, keepdims=True))
        return e / e.sum(axis=-2, keepdims=True)
    return accumulators / accumulators.sum(axis=-2, keepdims=True)


@pytest.mark.parametrize("logspace", [True, False])
def test_entropy_and_lp_match_numpy(logspace):
    rng = np.random.default_rng(0)
    accumulators = rng.normal(size=(3, 1, 4, 2)) if logspace else rng.uniform(0.1, 1.0, size=(3, 1, 4, 2))
    w = numpy_weights(accumulators, logspace)
    entropy = regularizers.NormalizedEntropy(0.5, logspace_accumulators=logspace)(accumulators.astype("float32"))
    np.testing.assert_allclose(float(entropy), 0.5 * -(w * np.log(w)).sum(), rtol=1e-5)
    lp = regularizers.NormalizedLp(2.0, p=0.5, logspace_accumulators=logspace)(accumulators.astype("float32"))
    np.testing.assert_allclose(float(lp), 2.0 * (w**0.5).sum(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"p must be a finite number in \(0"):
        regularizers.NormalizedLp(p=0.0)


@pytest.mark.parametrize("logspace", [False, True])
def test_entropy_with_a_zero_weight_has_the_gradient_of_the_other_children(logspace):
    import tensorflow as tf

    linear = np.array([[0.0], [1.0], [3.0]], np.float32)
    with np.errstate(divide="ignore"):
        accumulators = tf.Variable(np.log(linear) if logspace else linear)
    with tf.GradientTape() as tape:
        value = regularizers.NormalizedEntropy(1.0, logspace_accumulators=logspace)(accumulators)
    gradient = tape.gradient(value, accumulators).numpy()[:, 0]
    w = np.array([0.0, 0.25, 0.75])
    log_w = np.log(w, where=w > 0, out=np.zeros(3))
    entropy = -(w * log_w).sum()
    np.testing.assert_allclose(float(value), entropy, rtol=1e-6)
    # dH/dw_c = -(log w_c + 1): for log-space accumulators (a softmax) dH/da_j = -w_j (log w_j + H), 0 for w_j = 0;
    # for linear ones (w = a / T) dH/da_j = (-(log w_j + 1) + sum_c w_c (log w_c + 1)) / T, read at log w_j -> 0.
    if logspace:
        expected = -w * (log_w + entropy)
        np.testing.assert_allclose(gradient, expected, atol=1e-6)
    else:
        assert np.all(np.isfinite(gradient))
        np.testing.assert_allclose(gradient[1:], (-(log_w[1:] + 1) + (1 - entropy)) / 4.0, atol=1e-6)


def rat(regularizer):
    keras.utils.set_random_seed(1)
    return models.build_rat_spn(6, 2, 2, 3, 3, sum_op="grad", accumulator_regularizer=regularizer)


def mean_entropy(model):
    values = []
    for layer in model.layers:
        if hasattr(layer, "accumulators"):
            w = numpy_weights(layer.accumulators.numpy(), True)
            values.append(-(w * np.log(w)).sum(axis=-2).mean())
    return np.mean(values)


def test_entropy_regularizer_makes_sums_sparser_under_gradient_training():
    rng = np.random.default_rng(2)
    data = (rng.random((400, 6)) < 0.5).astype("int32")
    plain, regularized = rat(None), rat(regularizers.NormalizedEntropy(0.05))
    for model in (plain, regularized):
        model.compile(optimizer=keras.optimizers.Adam(0.05))
        model.fit(data, batch_size=200, epochs=5, verbose=0)  # 10 steps: entropies 0.096 apart (20 steps: 0.23)
    assert mean_entropy(regularized) < mean_entropy(plain) - 0.05
    assert regularized.losses  # the penalty is part of the loss


@pytest.mark.parametrize("make", [regularizers.NormalizedEntropy, regularizers.NormalizedLp])
@pytest.mark.parametrize("logspace", [True, False])
def test_a_regularizer_made_for_the_other_space_of_accumulators_is_refused_at_build(make, logspace):
    # It would read linear weights as logits (or the reverse): a wrong penalty, silently.
    layer = layers.DenseSum(
        num_sums=2,
        logspace_accumulators=logspace,
        accumulator_regularizer=make(0.1, **{"logspace_accumulators": not logspace}),
        name="mixing",
    )
    with pytest.raises(ValueError, match=f"DenseSum 'mixing'.*{make.__name__}.*logspace_accumulators={logspace}"):
        layer(keras.Input((2, 1, 3)))
    matching = layers.DenseSum(
        num_sums=2,
        logspace_accumulators=logspace,
        accumulator_regularizer=make(0.1, **{"logspace_accumulators": logspace}),
    )
    matching(keras.Input((2, 1, 3)))
    assert matching.losses


def test_a_regularizer_on_sums_trained_by_em_is_refused_before_training():
    # OnlineExpectationMaximization reads the gradients of linear accumulators under EM ops as counts; the
    # penalty's gradient would join them (a negative strength drove weights to 6e-11 instead of towards uniform).
    keras.utils.set_random_seed(1)
    penalty = regularizers.NormalizedEntropy(-5.0, logspace_accumulators=False)
    model = models.build_rat_spn(6, 2, 2, 3, 3, sum_op="em", accumulator_regularizer=penalty)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.5))
    data = (np.random.default_rng(0).random((32, 6)) < 0.5).astype("int32")
    model(data[:1])
    before = model.get_weights()
    with pytest.raises(ValueError, match="accumulator_regularizer.*EM counts.*sum_op='grad'"):
        model.fit(data, batch_size=16, verbose=0)
    for got, expected in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, expected)


def softened_model(beta):
    keras.utils.set_random_seed(3)
    return models.SequentialSumProductNetwork(
        [
            keras.Input((3,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=3),
            regularizers.DataSoftening(beta),
            layers.DenseSum(num_sums=2),
            layers.ReduceProduct(num_factors=3),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


def test_data_softening_keeps_normalization_and_only_acts_in_training(tmp_path):
    model = softened_model(0.9)
    states = np.array(list(itertools.product(range(3), repeat=3)), dtype="int32")
    trained = model(states, training=True).numpy()
    evaluated = model(states, training=False).numpy()
    assert abs(np_logsumexp(trained)) < 1e-5 and abs(np_logsumexp(evaluated)) < 1e-5
    assert np.abs(trained - evaluated).max() > 1e-2
    # Soft evidence: the observed category keeps 0.9, the two others 0.05 each.
    softening = model.layers[2]
    x = np.where(np.eye(3)[[1]] > 0, 0.0, -np.inf).astype("float32")
    np.testing.assert_allclose(np.exp(softening(x, training=True).numpy()), [[0.05, 0.9, 0.05]], rtol=1e-5)
    missing = np.zeros((1, 3), dtype="float32")
    np.testing.assert_allclose(softening(missing, training=True).numpy(), missing, atol=1e-6)
    model.save(tmp_path / "soft.keras")
    loaded = keras.models.load_model(tmp_path / "soft.keras")
    np.testing.assert_allclose(loaded(states).numpy(), evaluated, rtol=1e-6)
    with pytest.raises(ValueError, match="beta"):
        regularizers.DataSoftening(beta=1.5)


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda v: regularizers.NormalizedEntropy(strength=v), "strength"),
        (lambda v: regularizers.NormalizedLp(strength=v), "strength"),
        (lambda v: regularizers.NormalizedLp(p=v), "p"),
        (lambda v: regularizers.DataSoftening(beta=v), "beta"),
    ],
)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "a", None])
def test_regularizer_arguments_are_checked(make, argument, bad):
    # A non-finite strength would put a non-finite loss, and then non-finite weights, into the first training step.
    with pytest.raises(ValueError, match=rf"{argument} must be a finite number"):
        make(bad)


def test_data_softening_first_built_inside_a_tf_function_is_called_again_outside():
    # The mixing matrix was a tensor made in build: built while a tf.function traced, it belonged to that graph and
    # every later call failed ("out of scope").
    x = np.random.default_rng(0).integers(0, 3, size=(4, 3, 1)).astype("int32")
    leaf = layers.IndicatorLeaf(num_components=3)
    softening = regularizers.DataSoftening(beta=0.9)
    traced = tf.function(lambda t: softening(leaf(t), training=True))(tf.constant(x)).numpy()
    eager = softening(leaf(x), training=True).numpy()
    again = tf.function(lambda t: softening(leaf(t), training=True), jit_compile=True)(tf.constant(x)).numpy()
    np.testing.assert_allclose(eager, traced, rtol=1e-6)
    np.testing.assert_allclose(again, traced, rtol=1e-6)
    # Each observed category keeps beta, the others share the rest.
    np.testing.assert_allclose(np.exp(eager).sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(eager).max(axis=-1), 0.9, rtol=1e-6)


def regularized_dense_sum(logspace, regularizer, **constraints):
    keras.utils.set_random_seed(4)
    layer = layers.DenseSum(
        3,
        logspace_accumulators=logspace,
        accumulator_initializer=keras.initializers.RandomUniform(0.1, 1.0),
        accumulator_regularizer=regularizer,
        **constraints,
    )
    layer(np.log(np.random.default_rng(5).uniform(size=(2, 4, 2, 5))).astype("float32"))
    return layer


@pytest.mark.parametrize("logspace", [True, False])
def test_a_keras_regularizer_sees_the_normalized_weights_as_0_6_0_stored_them(logspace):
    # 0.6.0's default constraints kept each sum's weights normalized in the accumulators (their logs in log space),
    # so a 0.6.0 script's L2 penalised those; the accumulators here are unnormalized, the penalty must not change.
    layer = regularized_dense_sum(logspace, keras.regularizers.L2(0.1))
    w = numpy_weights(layer.accumulators.numpy().astype("float64"), logspace)
    stored = np.log(w) if logspace else w
    np.testing.assert_allclose(float(tf.add_n(layer.losses)), 0.1 * (stored**2).sum(), rtol=1e-5)
    # The library's own regularizers normalize themselves: the same value as on the accumulators directly.
    entropy = regularizers.NormalizedEntropy(0.5, logspace_accumulators=logspace)
    layer = regularized_dense_sum(logspace, entropy)
    np.testing.assert_allclose(float(tf.add_n(layer.losses)), float(entropy(layer.accumulators)), rtol=1e-5)


@pytest.mark.parametrize("logspace", [True, False])
def test_under_0_6_0_constraints_a_keras_regularizer_takes_the_stored_weights_with_their_own_gradient(logspace):
    from libspn_keras import constraints

    kept = dict(
        linear_accumulator_constraint=constraints.GreaterEqualEpsilonNormalized(),
        logspace_accumulator_constraint=constraints.LogNormalized(),
    )
    layer = regularized_dense_sum(logspace, keras.regularizers.L2(0.1), **kept)
    stored = layer.accumulators.numpy().astype("float64")
    np.testing.assert_allclose(np.exp(stored).sum(-2) if logspace else stored.sum(-2), 1.0, rtol=1e-5)
    with tf.GradientTape() as tape:
        penalty = tf.add_n(layer.losses)
    np.testing.assert_allclose(float(penalty), 0.1 * (stored**2).sum(), rtol=1e-5)
    # 0.6.0 differentiated the penalty in the stored values, not through a normalization.
    np.testing.assert_allclose(tape.gradient(penalty, layer.accumulators).numpy(), 0.2 * stored, rtol=1e-5, atol=1e-7)


def spatial_stack(logspace, regularizer):
    sums = dict(logspace_accumulators=logspace, accumulator_regularizer=regularizer)
    pool = dict(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2], padding="valid")
    return models.SequentialSumProductNetwork(
        [
            keras.Input((4, 4, 1)),
            layers.NormalLeaf(num_components=2),
            layers.Conv2DSum(num_sums=2, **sums),
            layers.Conv2DProduct(**pool),
            layers.Local2DSum(num_sums=2, **sums),
            layers.Conv2DProduct(**pool),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False, **sums),
        ]
    )


def compiled_graph(logspace, regularizer):
    return models.compile_region_graph(
        random_region_graph(6, depth=2, num_decomps=2, seed=1),
        layers.IndicatorLeaf(num_components=2),
        num_sums=3,
        input_dtype="int32",
        sum_op="grad",
        logspace_accumulators=logspace,
        accumulator_regularizer=regularizer,
    )


@pytest.mark.parametrize("logspace", [True, False])
@pytest.mark.parametrize("structure", ["spatial", "compiled_region_graph"])
def test_regularizers_of_spatial_and_compiled_sums_see_each_sums_normalized_weights(structure, logspace):
    # Their accumulators have other ranks than a DenseSum's ([rows, cols, children, sums] for Conv2DSum, the
    # node-major levels of a CompiledRegionGraph); the penalty must still normalize over each sum's children.
    regularizer = regularizers.NormalizedEntropy(0.5, logspace_accumulators=logspace)
    if structure == "spatial":
        model, x = spatial_stack(logspace, regularizer), np.zeros((2, 4, 4, 1), "float32")
    else:
        model, x = compiled_graph(logspace, regularizer), np.zeros((2, 6), "int32")
    model(x)
    accumulators = [v for v in model.trainable_variables if "accumulators" in v.path]
    assert len(accumulators) >= 3 and len(model.losses) == len(accumulators)
    entropy = 0.0
    for variable in accumulators:
        w = numpy_weights(variable.numpy().astype("float64"), logspace)
        entropy += -(w * np.log(w)).sum()
    np.testing.assert_allclose(float(tf.add_n(model.losses)), 0.5 * entropy, rtol=1e-5)
