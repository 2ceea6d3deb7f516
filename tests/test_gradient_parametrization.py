"""Which gradient sum accumulators get: through the normalization by default, 0.6.0's under its constraints.

By default (no constraint in log space, ``GreaterEqualEpsilon`` in linear space) the gradient
passes through the normalization (a softmax of log-space accumulators). Under ``LogNormalized`` /
``GreaterEqualEpsilonNormalized`` (0.6.0's defaults) the accumulators stand for the weights
themselves: the forward pass still normalizes them, but the gradient is that of ``log w`` (or
``w``), and the constraint projects after the step, as in 0.6.0. References are numpy formulas of
a single weighted sum.
"""

import numpy as np
import pytest
import tensorflow as tf
from reference import np_logsumexp
from tensorflow import keras

from libspn_keras import config, constraints, layers, models
from libspn_keras.sum_ops.base import kept_normalized

RNG = np.random.default_rng(3)
CHILDREN = 4
X = RNG.normal(size=(6, CHILDREN)).astype("float32")  # log-values of the children, one scope


def weights():
    w = RNG.uniform(0.1, 1.0, size=CHILDREN)
    return w / w.sum()


def normalizing(logspace):
    return constraints.LogNormalized() if logspace else constraints.GreaterEqualEpsilonNormalized()


def root(logspace, constraint, w, weighted_child_logits=False):
    kwargs = {("logspace" if logspace else "linear") + "_accumulator_constraint": constraint}
    layer = layers.RootSum(logspace_accumulators=logspace, return_weighted_child_logits=weighted_child_logits, **kwargs)
    layer.build((None, CHILDREN))
    layer.accumulators.assign((np.log(w) if logspace else w).reshape(CHILDREN, 1).astype("float32"))
    return layer


def reference_gradient(w, logspace, projected):
    """Gradient of ``-mean log sum_c w_c exp(x_c)`` w.r.t. the accumulators, in numpy."""
    posterior = w * np.exp(X) / np.sum(w * np.exp(X), axis=1, keepdims=True)  # [batch, children]
    if logspace:
        per_sample = posterior - w if projected else posterior  # d/da of log-softmax(a), or of log w itself
    else:
        per_sample = posterior / w - 1.0 if projected else posterior / w  # w = a / sum(a) at sum(a) = 1, or w = a
    return -per_sample.mean(axis=0)


def log_likelihood(layer):
    """``log p(x)`` ``[batch]`` of a root, whether it returns it or its weighted children."""
    out = layer(X)
    return tf.reduce_logsumexp(out, axis=-1) if layer.return_weighted_child_logits else out[:, 0]


def gradient(layer):
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(log_likelihood(layer))
    return tape.gradient(loss, layer.accumulators).numpy().ravel()


@pytest.mark.parametrize("logspace", [True, False])
@pytest.mark.parametrize("weighted_child_logits", [False, True])
def test_gradients_pass_the_normalization_except_under_normalizing_constraints(logspace, weighted_child_logits):
    w = weights()
    default = root(logspace, None, w, weighted_child_logits)
    assert not kept_normalized(default.accumulators)
    original = root(logspace, normalizing(logspace), w, weighted_child_logits)
    assert kept_normalized(original.accumulators)
    expected = np_logsumexp(X + np.log(w), axis=1)
    for layer in (default, original):
        np.testing.assert_allclose(log_likelihood(layer).numpy(), expected, rtol=1e-5)
    tolerance = dict(rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gradient(default), reference_gradient(w, logspace, True), **tolerance)
    np.testing.assert_allclose(gradient(original), reference_gradient(w, logspace, False), **tolerance)


@pytest.mark.parametrize("logspace", [True, False])
def test_values_stay_normalized_whatever_the_stored_accumulators(logspace):
    """The forward pass normalizes under every constraint, so an unnormalized value written by hand changes nothing."""
    w = weights()
    layer = root(logspace, normalizing(logspace), w)
    scaled = np.log(w) + 3.0 if logspace else w * 7.0
    layer.accumulators.assign(scaled.reshape(CHILDREN, 1).astype("float32"))
    np.testing.assert_allclose(layer(X).numpy()[:, 0], np_logsumexp(X + np.log(w), axis=1), rtol=1e-5)


def two_level_model(constraint):
    keras.utils.set_random_seed(0)
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=2, input_shape=[4]),
            layers.NormalLeaf(num_components=2),
            layers.DenseSum(num_sums=3, logspace_accumulator_constraint=constraint),
            layers.DenseProduct(num_factors=2),  # then DenseSum: the fused product-sum kernel
            layers.DenseSum(num_sums=2, logspace_accumulator_constraint=constraint),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(logspace_accumulator_constraint=constraint),
        ]
    )
    model(np.zeros((1, 4), "float32"))
    return model


def test_every_sum_layer_of_a_model_under_xla_gets_the_projected_relation():
    """0.6.0's (LogNormalized) and softmax (default) gradients of the same weights: ``g_softmax = g - w * sum(g)``."""
    raw_model, free_model = two_level_model(constraints.LogNormalized()), two_level_model(None)
    free_model.set_weights(raw_model.get_weights())
    x = tf.constant(RNG.normal(size=(16, 4)).astype("float32"))

    def gradients(model):
        @tf.function(jit_compile=True)
        def step():
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(model(x))
            return tape.gradient(loss, model.trainable_variables)

        return [g.numpy() for g in step()]

    sums = [i for i, v in enumerate(raw_model.trainable_variables) if "accumulators" in v.path]
    assert len(sums) == 3
    raw, free = gradients(raw_model), gradients(free_model)
    for i, (g_raw, g_free, v) in enumerate(zip(raw, free, raw_model.trainable_variables)):
        if i not in sums:
            np.testing.assert_allclose(g_free, g_raw, rtol=1e-4, atol=1e-6)  # leaves: the same gradient
            continue
        w = np.exp(v.numpy())
        np.testing.assert_allclose(w.sum(axis=-2), 1.0, rtol=1e-5)  # stored normalized by LogNormalized
        np.testing.assert_allclose(g_free, g_raw - w * g_raw.sum(axis=-2, keepdims=True), rtol=1e-4, atol=1e-6)
        assert np.abs(g_raw - g_free).max() > 1e-3


def fit_categorical(constraint, optimizer):
    """A root over the two indicators of one binary variable, fit to data with frequencies 0.8 / 0.2."""
    keras.utils.set_random_seed(0)
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1], dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            layers.RootSum(
                accumulator_initializer=keras.initializers.Constant(0.5), logspace_accumulator_constraint=constraint
            ),
        ]
    )
    x = (np.arange(500) % 5 == 0).astype("int32")[:, None]  # 1 with frequency 0.2
    model.compile(optimizer=optimizer)
    model.fit(x, epochs=5, batch_size=50, verbose=0)
    log_w = model.layers[-1].accumulators.numpy().ravel()
    return np.exp(log_w - np_logsumexp(log_w))


def test_only_softmax_gradients_find_the_maximum_likelihood():
    """Under LogNormalized every child's likelihood gradient is positive (0.6.0's steps): they never stop there."""
    for optimizer in (keras.optimizers.Adam(0.05), keras.optimizers.SGD(0.5)):
        np.testing.assert_allclose(fit_categorical(None, optimizer), [0.8, 0.2], atol=0.03)
    # Adam scales each child's gradient to about its rate and moves both alike; SGD piles all on the majority.
    assert abs(fit_categorical(constraints.LogNormalized(), keras.optimizers.Adam(0.05))[0] - 0.5) < 0.05
    assert fit_categorical(constraints.LogNormalized(), keras.optimizers.SGD(0.5))[0] > 0.99


def test_unconstrained_overrides_a_global_default_and_round_trips():
    saved = config.get_default("logspace_accumulator_constraint")
    config.set_default_logspace_accumulators_constraint(constraints.LogNormalized())
    try:
        assert isinstance(layers.DenseSum(num_sums=2).logspace_accumulator_constraint, constraints.LogNormalized)
        layer = layers.DenseSum(num_sums=2, logspace_accumulator_constraint=constraints.UNCONSTRAINED)
        assert layer.logspace_accumulator_constraint is None
        # Saved as UNCONSTRAINED, not None, which would take the global default again when loading.
        assert layer.get_config()["logspace_accumulator_constraint"] == constraints.UNCONSTRAINED
        assert layers.DenseSum.from_config(layer.get_config()).logspace_accumulator_constraint is None
    finally:
        config.set_default("logspace_accumulator_constraint", saved)


@pytest.mark.parametrize("logspace", [True, False])
@pytest.mark.parametrize("weighted_child_logits", [False, True])
def test_weights_of_zero_stay_finite_under_normalizing_constraints(logspace, weighted_child_logits):
    """A child with weight 0 (log -inf) contributes nothing, value and gradient, as without the constraint."""
    w = np.array([0.5, 0.5, 0.0, 0.0])
    with np.errstate(divide="ignore"):
        stored = (np.log(w) if logspace else w).reshape(CHILDREN, 1).astype("float32")
    values, grads = [], []
    for constraint in (None, normalizing(logspace)):
        layer = root(logspace, constraint, weights(), weighted_child_logits)
        layer.accumulators.assign(stored)  # past the constraint, as set_weights or pruning would write it
        values.append(log_likelihood(layer).numpy())
        grads.append(gradient(layer))
    expected = np_logsumexp(X[:, :2] + np.log(0.5), axis=1)
    for value in values:
        np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert np.all(np.isfinite(grads[1][:2])) and not np.any(np.isnan(grads[1]))


def test_constraints_normalizing_another_axis_keep_the_softmax_gradient():
    layer = layers.DenseSum(num_sums=2, logspace_accumulator_constraint=constraints.LogNormalized(axis=-1))
    layer.build((None, 1, 1, 3))
    assert not kept_normalized(layer.accumulators)
    layer = layers.DenseSum(num_sums=2, logspace_accumulator_constraint=constraints.LogNormalized(axis=2))
    layer.build((None, 1, 1, 3))  # accumulators [1, 1, 3, 2]: axis 2 is the children axis
    assert kept_normalized(layer.accumulators)


def test_a_compiled_region_graph_passes_unconstrained_to_its_sums():
    from libspn_keras.region_graph import RegionNode, RegionVariable

    saved = config.get_default("logspace_accumulator_constraint")
    config.set_default_logspace_accumulators_constraint(constraints.LogNormalized())
    try:
        graph = RegionNode([RegionVariable(0), RegionVariable(1)], product="elementwise")
        model = models.compile_region_graph(
            graph,
            layers.NormalLeaf(num_components=2),
            num_sums=2,
            logspace_accumulator_constraint=constraints.UNCONSTRAINED,
        )
        model(np.zeros((1, 2), "float32"))
        compiled = model.layers[-1]
        assert compiled.sum_layers and all(s.logspace_accumulator_constraint is None for s in compiled.sum_layers)
    finally:
        config.set_default("logspace_accumulator_constraint", saved)
