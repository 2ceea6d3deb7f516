"""Compiled region graphs on the node-major path: a fully marginalized network gives exactly log 1 = 0.

``renormalized_node_major`` subtracts the kernel's own value for an all-zero sample so that the float32 rounding
bias of each normalized sum cancels (see ``libspn_keras.math.stable.renormalized``). Without it, a marginalized
HCLT or random region graph gives about 1e-7 instead of 0.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models, optimizers
from libspn_keras.math import node_major, stable
from libspn_keras.math.node_major import renormalized_node_major
from libspn_keras.math.stable import ZERO_ROW_GROUP, renormalized, with_zero_rows, without_zero_sample
from libspn_keras.region_graph import random_region_graph
from libspn_keras.structure.chow_liu import hclt_region_graph


# Core: a diagonal of the two axes (random with em, hclt with grad).
@pytest.mark.parametrize(
    "structure, sum_op",
    [
        pytest.param("random", "grad", marks=pytest.mark.slow),
        ("random", "em"),
        ("hclt", "grad"),
        pytest.param("hclt", "em", marks=pytest.mark.slow),
    ],
    ids=["random-grad", "random-em", "hclt-grad", "hclt-em"],
)
def test_fully_marginalized_compiled_region_graph_is_exactly_zero(sum_op, structure):
    keras.utils.set_random_seed(0)
    if structure == "random":
        roots, num_vars = random_region_graph(32, 4, 2, seed=0), 32
    else:
        parents = np.array([-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7])
        roots, num_vars = hclt_region_graph(parents), len(parents)
    model = models.compile_region_graph(roots, layers.IndicatorLeaf(2), num_sums=8, num_input_sums=8, sum_op=sum_op)
    missing = -np.ones((4, num_vars), dtype="int32")  # every variable marginalized: p = 1 exactly
    np.testing.assert_array_equal(model.predict(missing, verbose=0), np.zeros((4, 1), "float32"))
    np.testing.assert_array_equal(model.log_likelihood(missing), np.zeros(4, "float32"))


# Row counts whose last group of rows a CPU kernel contracts apart from the others (4-6, 8-14 and 16-19 samples on
# an AVX2 CPU gave 1.2e-7 before the zero sample was padded to a full group of rows).
@pytest.mark.parametrize("layout", ["node_major", "batch_first"])
def test_marginalized_network_is_exactly_zero_at_any_batch_size(layout):
    keras.utils.set_random_seed(0)
    if layout == "node_major":
        parents = np.array([-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7])
        model, num_vars = models.compile_region_graph(hclt_region_graph(parents), layers.IndicatorLeaf(2), 8, 8), 16
    else:
        num_vars = 16
        model = models.build_rat_spn(num_vars, depth=2, num_decomps=3, num_input_distributions=6, num_sums=6)
    for rows in (4, 5, 13, 17):
        missing = -np.ones((rows, num_vars), dtype="int32")
        np.testing.assert_array_equal(model.predict(missing, batch_size=rows, verbose=0), np.zeros((rows, 1)))


@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("rows", [1, 7, 8, 9, 100])
def test_with_zero_rows_fills_whole_groups(rows, static):
    x = tf.ones([3, rows, 2])
    if static:
        padded, counted = with_zero_rows(x, axis=-2)
    else:
        padded, counted = tf.function(
            lambda t: with_zero_rows(t, axis=1), input_signature=[tf.TensorSpec([3, None, 2])], jit_compile=True
        )(x)
    total = padded.shape[1]
    assert int(counted) == rows
    assert total % ZERO_ROW_GROUP == 0 and rows < total <= rows + ZERO_ROW_GROUP
    np.testing.assert_array_equal(padded[:, :rows], x)
    np.testing.assert_array_equal(padded[:, rows:], 0.0)


def test_without_zero_sample_sums_only_the_batch():
    rows_seen = []

    def log_sum(x, axis):
        rows_seen.append(int(x.shape[axis]))
        return tf.reduce_logsumexp(x, axis=-1, keepdims=True) - np.log(3.0)  # a sum of weights 1/3

    x = tf.math.log(tf.random.stateless_uniform([5, 3], seed=[1, 2]))
    exact = renormalized(lambda t: log_sum(t, 0), x)
    exact_node_major = renormalized_node_major(lambda t: log_sum(t, -2), x)
    with without_zero_sample():
        plain = renormalized(lambda t: log_sum(t, 0), x)
        plain_node_major = renormalized_node_major(lambda t: log_sum(t, -2), x)
    assert rows_seen == [ZERO_ROW_GROUP, ZERO_ROW_GROUP, 5, 5]
    np.testing.assert_array_equal(plain, tf.reduce_logsumexp(x, axis=-1, keepdims=True) - np.log(3.0))
    np.testing.assert_array_equal(plain_node_major, plain)
    # The zero sample corrects rounding only.
    np.testing.assert_allclose(exact, plain, atol=1e-6)
    np.testing.assert_allclose(exact_node_major, plain, atol=1e-6)


def _counted_zero_rows(monkeypatch):
    calls = []

    def counted(tensor, axis):
        calls.append(axis)
        return with_zero_rows(tensor, axis)

    monkeypatch.setattr(stable, "with_zero_rows", counted)
    monkeypatch.setattr(node_major, "with_zero_rows", counted)
    return calls


@pytest.mark.parametrize("layout", ["node_major", "batch_first"])
def test_training_steps_trace_no_zero_sample_and_evaluation_keeps_it(layout, monkeypatch):
    calls = _counted_zero_rows(monkeypatch)
    keras.utils.set_random_seed(0)
    if layout == "node_major":
        parents = np.array([-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7])
        model = models.compile_region_graph(hclt_region_graph(parents), layers.IndicatorLeaf(2), 8, 8, sum_op="em")
    else:
        model = models.build_rat_spn(16, depth=2, num_decomps=3, num_input_distributions=6, num_sums=6, sum_op="em")
    # Graph mode: which sums take the zero sample is decided as the steps are traced, alike for XLA (one compile each
    # of the train, predict and test steps fewer). Predictions of exactly 0 under the default compile: the two tests
    # above.
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.1), jit_compile=False)
    x = np.random.default_rng(0).integers(0, 2, size=(32, 16)).astype("int32")
    history = model.fit(x, batch_size=16, epochs=2, verbose=0)
    assert calls == [] and np.isfinite(history.history["loss"]).all()
    # After training, evaluation and queries still subtract the zero sample: a marginalized network gives 0.
    missing = -np.ones((5, 16), dtype="int32")
    np.testing.assert_array_equal(model.predict(missing, batch_size=5, verbose=0), np.zeros((5, 1)))
    assert calls
    calls.clear()
    loss = model.evaluate(x, verbose=0)
    assert calls
    # The loss is the mean of -log p(x), here from the model's own (eager) call, which gave the same float32 value
    # on both layouts as log_likelihood's XLA compile, a compile for this reference alone.
    np.testing.assert_allclose(loss, -np.mean(model(x).numpy()), rtol=1e-6)


# functional: slow extra; Keras's Functional passes training to the layers as its Sequential does (the core case).
@pytest.mark.parametrize("functional", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_plain_keras_model_of_the_layers_trains_without_the_zero_sample(functional, monkeypatch):
    # Keras compiles a plain Sequential without XLA on CPUs; there the zero sample made the seed's DGC-SPN step
    # 1.2-1.6x slower. fit passes training=True to the sum layers, which then trace the plain sums.
    calls = _counted_zero_rows(monkeypatch)
    keras.utils.set_random_seed(0)
    stack = [
        layers.FlatToRegions(num_decomps=1),
        layers.IndicatorLeaf(num_components=2),
        layers.DenseSum(num_sums=3),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=2),
        layers.DenseProduct(num_factors=2),
        layers.RootSum(return_weighted_child_logits=True),
    ]
    if functional:
        inputs = keras.Input((4,), dtype="int32")
        outputs = inputs
        for layer in stack:
            outputs = layer(outputs)
        model = keras.Model(inputs, outputs)
    else:
        model = keras.Sequential([keras.Input((4,), dtype="int32"), *stack])
    model.compile(
        optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(32, 4)).astype("int32")
    y = rng.integers(0, 2, size=32)
    before = model.predict(x, verbose=0)
    calls.clear()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert calls == [] and np.isfinite(history.history["loss"]).all()
    assert not np.allclose(model.predict(x, verbose=0), before)  # it trained
    # Reported values keep it: prediction, evaluation and direct calls; a marginalized network gives log 1 = 0.
    missing = -np.ones((5, 4), dtype="int32")
    joint = model.predict(missing, batch_size=5, verbose=0)
    np.testing.assert_array_equal(tf.reduce_logsumexp(joint, axis=-1), np.zeros(5, "float32"))
    assert calls
    for call in (lambda: model.evaluate(x, y, verbose=0), lambda: model(x), lambda: model(x, training=False)):
        calls.clear()
        call()
        assert calls
    calls.clear()
    model(x, training=True)
    assert calls == []


@pytest.mark.parametrize("structure", ["region_graph", "rat_spn"])
def test_layers_and_pairs_inside_a_model_skip_the_zero_sample_in_training_calls_only(structure, monkeypatch):
    # A compiled region graph's sums (here its layers in a plain Sequential) and a RAT-SPN's fused product-sum pairs
    # do not go through DenseSum.call; an SPN model nested in a plain keras.Model is called with training=True by
    # that model's fit.
    keras.utils.set_random_seed(0)
    if structure == "region_graph":
        parents = np.array([-1, 0, 0, 1, 1, 2, 2, 3])
        spn = models.compile_region_graph(hclt_region_graph(parents), layers.IndicatorLeaf(2), 4, 4, sum_op="em")
        model = keras.Sequential([keras.Input((8,), dtype="int32"), *spn.layers])
    else:
        model = models.build_rat_spn(8, depth=2, num_decomps=2, num_input_distributions=3, num_sums=3)
    x = np.random.default_rng(0).integers(0, 2, size=(6, 8)).astype("int32")
    calls = _counted_zero_rows(monkeypatch)
    reported = model(x)
    assert calls
    calls.clear()
    trained = model(x, training=True)
    assert calls == []
    np.testing.assert_allclose(trained, reported, atol=1e-5)
    outer = keras.Sequential([keras.Input((8,), dtype="int32"), model])
    outer.compile(optimizer=keras.optimizers.Adam(0.01), loss=lambda _, log_p: -log_p)
    calls.clear()
    outer.fit(x, np.zeros(6), batch_size=6, epochs=1, verbose=0)
    assert calls == []
