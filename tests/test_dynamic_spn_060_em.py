"""0.6.0's dynamic SPN form under EM and under 0.6.0's constraints: the two documented differences
(docs/guide/migration.md, soft-EM note and the "Dynamic SPNs" row), each against an independent reference.

The expected counts of a sum's children are d log P / d log w with P written as a polynomial in the weights, which is
the gradient op's signal under 0.6.0's ``LogNormalized`` constraint (normalization with the gradient of the identity).
"""

import numpy as np
import tensorflow as tf
from tensorflow import keras

import libspn_keras as spnk
from libspn_keras import layers

NUM_VARS, NUM_STEPS = 2, 4


def dynamic_spn(sum_op, logspace):
    kwargs = dict(logspace_accumulators=logspace, sum_op=sum_op)
    if logspace:
        kwargs["logspace_accumulator_constraint"] = spnk.constraints.LogNormalized()
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[NUM_VARS], dtype=tf.int32),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=3, **kwargs),
            layers.ReduceProduct(num_factors=NUM_VARS),
        ]
    )
    t0 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 3], **kwargs)])
    t_minus_1 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 4], **kwargs)])
    top = keras.Sequential([layers.RootSum(return_weighted_child_logits=False, input_shape=[1, 1, 4], **kwargs)])
    networks = (template, t0, t_minus_1, top)
    return spnk.models.DynamicSumProductNetwork(*networks, return_last_step=True), networks


def sequences(lens):
    x = np.random.default_rng(17).integers(0, 2, size=(len(lens), NUM_STEPS, NUM_VARS)).astype(np.int32)
    lens = np.asarray(lens)
    x[np.arange(NUM_STEPS)[None, :] < (NUM_STEPS - lens)[:, None]] = 0  # left-padded, as 0.6.0 expects
    return x, lens


def set_weights(model, networks, x, lens, logspace):
    model([x[:1], lens[:1]])
    weights = []
    for k, network in enumerate(networks):
        variable = network.trainable_weights[0]
        w = np.random.default_rng([k, 9]).uniform(0.2, 1.0, size=tuple(variable.shape))
        w /= w.sum(axis=-2, keepdims=True)
        variable.assign((np.log(w) if logspace else w).astype(np.float32))
        weights.append(w)
    return weights


def expected_counts(x, lens):
    model, networks = dynamic_spn(spnk.SumOpGradBackprop(), logspace=True)
    weights = set_weights(model, networks, x, lens, logspace=True)
    with tf.GradientTape() as tape:
        log_likelihood = tf.reduce_sum(model([tf.constant(x), tf.constant(lens)]))
    counts = tape.gradient(log_likelihood, [network.trainable_weights[0] for network in networks])
    return weights, [np.asarray(c, np.float64) for c in counts]


def test_soft_em_step_of_a_dynamic_spn_is_the_exact_em_step():
    """The counts of the template and interface sums add up over the steps before the optimizer normalizes them
    (0.6.0 normalized them per step and then added them, 3e-2 off here)."""
    x, lens = sequences([1, 2, 3, 4, 4, 2, 3, 4])
    weights, counts = expected_counts(x, lens)
    model, networks = dynamic_spn(spnk.SumOpEMBackprop(), logspace=False)
    set_weights(model, networks, x, lens, logspace=False)
    learning_rate = 0.5
    model.compile(
        optimizer=spnk.optimizers.OnlineExpectationMaximization(learning_rate=learning_rate),
        loss=spnk.losses.NegativeLogLikelihood(),
    )
    model.fit(x, lens, epochs=1, batch_size=len(x), shuffle=False, verbose=0)
    for network, w, c in zip(networks, weights, counts):
        expected = (1 - learning_rate) * w + learning_rate * c / c.sum(axis=-2, keepdims=True)
        trained = np.asarray(network.trainable_weights[0], np.float64)
        np.testing.assert_allclose(trained / trained.sum(axis=-2, keepdims=True), expected, atol=1e-6)


def test_interface_sums_get_no_signal_from_steps_before_a_sequence():
    """Length-1 sequences never use the interface from a previous step: no signal to interface_network_t_minus_1
    (0.6.0 handed it w times the flow from the interface it computed at the padding step before the first step)."""
    x, lens = sequences([1, 1, 1, 1])
    _, counts = expected_counts(x, lens)
    np.testing.assert_array_equal(counts[2], 0.0)
    assert np.all(counts[1].sum(axis=-2) > 0)  # the other networks do learn from these sequences
