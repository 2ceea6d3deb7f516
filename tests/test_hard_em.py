"""Hard EM and unweighted hard EM as libspn-keras 0.6.0 defines them, against brute-force references.

The forward pass is the exact weighted sum (every network sums to one); only
the backward pass is hard: each sum sends its signal to the child with the
largest ``log w + log S_c`` (unweighted: ``log S_c``), ``S_c`` being the
ordinary marginal child values. The reference follows that rule top-down in
numpy on the tiny two-level model of ``test_em``.
"""

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp, restore_state, saved_state
from tensorflow import keras
from test_em import (
    R,
    correlated_binary_data,
    em_estimate,
    em_optimizer,
    normalize,
    one_root_model,
    random_tiny_accumulators,
    rat_spn,
    set_accumulators,
    sum_gradients,
    tiny_data,
    tiny_joint,
    tiny_model,
    weights_of,
)

from libspn_keras import layers, losses, metrics, models, optimizers, sum_ops
from libspn_keras import region_graph as spn_region_graph
from libspn_keras.math.routing import route_signal
from libspn_keras.sum_ops import SumOpHardEMBackprop, SumOpUnweightedHardEMBackprop

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")

HARD_OPS = ["hard_em", "unweighted_hard_em"]


def hard_em_counts(x, accumulators, weighted=True):
    """Edge counts of the tiny model's three sum layers when every sum routes to its own winner, top-down."""
    w0, w1, w2 = (normalize(a) for a in accumulators)
    x = np.asarray(x)
    ind = np.stack([x == c for c in range(2)], axis=-1).astype(np.float64)  # [N, var, c]
    s0 = np.einsum("vrci,nvc->nvri", w0, ind)  # leaf sums [N, var, r, i]
    s1 = np.einsum("rpk,nrp->nrk", w1[0], (s0[:, 0, :, :, None] * s0[:, 1, :, None, :]).reshape(len(x), R, 4))
    n0, n1, n2 = np.zeros((2, R, 2, 2)), np.zeros((1, R, 4, 2)), np.zeros((2 * R, 1))
    with np.errstate(divide="ignore"):
        log_w0, log_w1, log_w2 = (np.log(w) if weighted else np.zeros_like(w) for w in (w0, w1, w2))
        for n in range(len(x)):
            r, k = divmod(int(np.argmax(np.log(s1[n].ravel()) + log_w2[:, 0])), 2)
            n2[r * 2 + k, 0] += 1
            i, j = divmod(int(np.argmax(np.log(np.outer(s0[n, 0, r], s0[n, 1, r]).ravel()) + log_w1[0, r, :, k])), 2)
            n1[0, r, i * 2 + j, k] += 1
            for var, node in ((0, i), (1, j)):
                c = int(np.argmax(np.log(ind[n, var]) + log_w0[var, r, :, node]))
                n0[var, r, c, node] += 1
    return [n0, n1, n2]


def tiny_case(sum_op, seed, size=50):
    """``(data, accumulators, tiny model holding them)`` drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    x = tiny_data(rng, size=size)
    acc = random_tiny_accumulators(rng)
    model = tiny_model(sum_op)
    set_accumulators(model, acc)
    return x, acc, model


@pytest.mark.parametrize("sum_op", HARD_OPS)
def test_forward_is_exact_and_counts_are_per_sample_winners(sum_op):
    x, acc, model = tiny_case(sum_op, 5)
    exact = np.log(tiny_joint(x, acc).reshape(len(x), -1).sum(axis=1))
    np.testing.assert_allclose(model(x).numpy()[:, 0], exact, atol=1e-5)
    reference = hard_em_counts(x, acc, weighted=sum_op == "hard_em")
    counts = sum_gradients(model, x)
    for got, ref in zip(counts, reference):
        np.testing.assert_array_equal(got, ref)
    assert counts[-1].sum() == len(x)
    # Non-vacuous: the weighted and the unweighted rules disagree on this data.
    other = hard_em_counts(x, acc, weighted=sum_op != "hard_em")
    assert any(not np.array_equal(a, b) for a, b in zip(reference, other))


# hard_em's counts are checked against brute force by test_forward_is_exact_and_counts_are_per_sample_winners.
@pytest.mark.parametrize("sum_op", [pytest.param("hard_em", marks=pytest.mark.slow), "unweighted_hard_em"])
def test_hard_em_step_is_the_brute_force_m_step(sum_op):
    x, acc, model = tiny_case(sum_op, 6)
    # Graph mode: XLA compiles the routing loops of three layers in ~20 s (the XLA path has its own slow test).
    model.compile(optimizer=em_optimizer(1.0), metrics=[metrics.LogLikelihood()], jit_compile=False)
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    expected = em_estimate(acc, hard_em_counts(x, acc, weighted=sum_op == "hard_em"))
    for got, ref in zip(weights_of(model), expected):
        # Edges without counts are clipped to the accumulator epsilon instead of exactly 0.
        np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.slow  # XLA compilation of the routing loop: ~25 s on 2 cores
def test_fit_under_jit_compile_matches_reference_steps():
    x, acc, model = tiny_case("hard_em", 16, size=64)
    model.compile(optimizer=em_optimizer(1.0), metrics=[metrics.LogLikelihood()], jit_compile=True)
    history = model.fit(x, batch_size=len(x), epochs=2, shuffle=False, verbose=0).history["llh"]
    first = em_estimate(acc, hard_em_counts(x, acc))
    second = em_estimate(first, hard_em_counts(x, first))
    for got, ref in zip(weights_of(model), second):
        np.testing.assert_allclose(got, ref, atol=1e-4)
    # The reported metric is the exact log-likelihood before each step.
    for value, weights in zip(history, (acc, first)):
        assert value == pytest.approx(np.mean(np.log(tiny_joint(x, weights).reshape(len(x), -1).sum(1))), abs=1e-4)


@pytest.mark.parametrize(
    "sum_op", ["hard_em", "unweighted_hard_em", SumOpHardEMBackprop(0.5), SumOpUnweightedHardEMBackprop(1.0)]
)
def test_hard_em_networks_sum_to_one(sum_op):
    keras.utils.set_random_seed(2)
    rat = rat_spn(5, 2, 2, sum_op, num_sums=3)
    log_p = rat(all_binary(5)).numpy()[:, 0]
    assert abs(np_logsumexp(log_p)) < 1e-5
    spatial = models.SequentialSumProductNetwork(
        [
            keras.Input((2, 2, 1), dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            layers.Local2DSum(num_sums=2, sum_op=sum_op),
            layers.Conv2DProduct(strides=1, dilations=1, kernel_size=2, padding="full", num_channels=4),
            layers.Conv2DSum(num_sums=2, sum_op=sum_op),
            layers.Conv2DProduct(strides=1, dilations=2, kernel_size=2, padding="final", depthwise=True),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=True, sum_op=sum_op),
        ]
    )
    log_joint = spatial(all_binary(4).reshape(-1, 2, 2, 1)).numpy()
    assert abs(np_logsumexp(log_joint)) < 1e-5


@pytest.mark.parametrize(
    "sum_op,child_0",
    [
        # Root weights [0.3, 0.7] over child values [0.6, 0.4]: w * S = [0.18, 0.28], so child 1 is best.
        (SumOpHardEMBackprop(), 0.0),
        (SumOpHardEMBackprop(sample_prob=1.0), 0.18 / 0.46),
        (SumOpHardEMBackprop(sample_prob=0.5), 0.5 * 0.18 / 0.46),
        # Unweighted: child values alone, child 0 is best.
        (SumOpUnweightedHardEMBackprop(), 1.0),
        (SumOpUnweightedHardEMBackprop(sample_prob=1.0), 0.6),
        (SumOpUnweightedHardEMBackprop(sample_prob=0.5), 0.5 + 0.5 * 0.6),
    ],
)
def test_sample_prob_draws_the_winner_with_that_probability(sum_op, child_0):
    model = one_root_model(sum_op, 2)
    model.layers[-1].accumulators.assign([[0.3], [0.7]])
    draws = 20000
    x = tf.constant(np.log([[0.6, 0.4]] * draws), dtype=tf.float32)
    keras.utils.set_random_seed(3)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model(x)
        total = tf.reduce_sum(out)
    d_acc, d_x = tape.gradient(total, [model.layers[-1].accumulators, x])
    np.testing.assert_allclose(out.numpy(), np.log(0.46), atol=1e-6)
    counts = d_acc.numpy()[:, 0]
    assert counts.sum() == draws
    np.testing.assert_array_equal(d_x.numpy().sum(axis=0), counts)
    assert abs(counts[0] / draws - child_0) < 0.015, (counts, child_0)


def test_every_sum_of_a_position_routes_its_own_signal():
    # All three sums of the position receive a signal (the general path, one pass per sum).
    rng = np.random.default_rng(8)
    x = rng.normal(size=(200, 1, 1, 4)).astype(np.float32)
    acc = rng.uniform(0.05, 3.0, size=(1, 1, 4, 3)).astype(np.float32)
    log_w = np.log(normalize(acc))
    result = {}
    for sum_op in HARD_OPS:
        layer = layers.DenseSum(num_sums=3, sum_op=sum_op)
        layer(x[:1])
        layer.accumulators.assign(acc)
        with tf.GradientTape() as tape:
            out = layer(x)
            total = tf.reduce_sum(out)
        np.testing.assert_allclose(out.numpy(), np_logsumexp(x[..., :, None] + log_w, axis=-2), atol=1e-5)
        result[sum_op] = tape.gradient(total, layer.accumulators).numpy()
    weighted_choice = np.argmax(x[..., :, None] + log_w, axis=-2)  # [B, 1, 1, sums]
    unweighted_choice = np.argmax(x, axis=-1)  # [B, 1, 1]
    expected_weighted = np.zeros((1, 1, 4, 3))
    expected_unweighted = np.zeros((1, 1, 4, 3))
    for b in range(len(x)):
        for s in range(3):
            expected_weighted[0, 0, weighted_choice[b, 0, 0, s], s] += 1
            expected_unweighted[0, 0, unweighted_choice[b, 0, 0], s] += 1
    np.testing.assert_array_equal(result["hard_em"], expected_weighted)
    np.testing.assert_array_equal(result["unweighted_hard_em"], expected_unweighted)
    assert not np.array_equal(expected_weighted, expected_unweighted)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_route_signal_matches_brute_force(shared, sparse):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(6, 3, 2, 5)).astype(np.float32)
    w_shape = (5, 4) if shared else (3, 2, 5, 4)
    log_w = np.log(rng.dirichlet(np.ones(5), size=w_shape[:-2] + (4,))).swapaxes(-1, -2).astype(np.float32)
    dy = rng.normal(size=(6, 3, 2, 4)).astype(np.float32)
    if sparse:  # one sum per position, as a signal from the root of a valid SPN
        dy *= np.eye(4)[rng.integers(0, 4, size=(6, 3, 2))]
    d_x, d_w = route_signal(tf.constant(x), tf.constant(log_w), tf.constant(dy))
    scores = x[..., :, None] + log_w  # [B, 3, 2, children, sums]
    winner = np.argmax(scores, axis=-2)
    expected_x, expected_w = np.zeros(x.shape), np.zeros((5, 4) if shared else (3, 2, 5, 4))
    for b, p, q, s in np.ndindex(6, 3, 2, 4):
        c = winner[b, p, q, s]
        expected_x[b, p, q, c] += dy[b, p, q, s]
        expected_w[(c, s) if shared else (p, q, c, s)] += dy[b, p, q, s]
    np.testing.assert_allclose(d_x.numpy(), expected_x, atol=1e-5)
    np.testing.assert_allclose(d_w.numpy(), expected_w, atol=1e-5)


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("sample_prob", [0.0, 1.0])
def test_route_signal_passes_nothing_from_a_sum_whose_children_are_all_impossible(weighted, sample_prob):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 3, 4)).astype(np.float32)
    x[1] = -np.inf  # a sample of probability 0 at every position
    x[3, 2] = -np.inf  # and one that is impossible at its last position only
    log_w = np.log(rng.dirichlet(np.ones(4), size=(3, 2))).swapaxes(-1, -2).astype(np.float32)  # [3, 4, 2]
    x, log_w, dy = tf.constant(x), tf.constant(log_w), np.ones((5, 3, 2), np.float32)
    impossible = np.isneginf(x.numpy()).all(axis=-1)
    d_x, d_w = (t.numpy() for t in route_signal(x, log_w, tf.constant(dy), weighted=weighted, sample_prob=sample_prob))
    assert not d_x[impossible].any()
    np.testing.assert_allclose(d_x.sum(axis=-1), np.where(impossible, 0.0, 2.0))  # the rest is routed whole
    assert d_w.sum() == pytest.approx(2 * (~impossible).sum())
    if sample_prob == 0.0:  # deterministic: exactly the counts of the possible entries alone
        kept = tf.constant(np.where(impossible[..., None], 0.0, dy), tf.float32)
        _, expected = route_signal(x, log_w, kept, weighted, sample_prob)
        np.testing.assert_array_equal(d_w, expected.numpy())


def normal_leaf_model(sum_op):
    keras.utils.set_random_seed(1)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((4,)),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2, location_trainable=False),
            layers.DenseSum(num_sums=2, sum_op=sum_op),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=2, sum_op=sum_op),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op),
        ]
    )
    model.build((None, 4))
    return model


@pytest.mark.parametrize("sum_op", ["em", *HARD_OPS])
def test_a_sample_of_probability_zero_adds_no_counts_to_a_custom_loop(sum_op):
    # A custom loop that differentiates sum_x log p(x) itself, with no library loss to hold back a row of -inf.
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    with_impossible = x.copy()
    with_impossible[0, 0] = 1e30  # a Normal density of 0 in float32
    model = normal_leaf_model(sum_op)
    assert np.isneginf(model(with_impossible).numpy()[0, 0])
    counts, expected = sum_gradients(model, with_impossible), sum_gradients(model, x[1:])
    assert all(np.isfinite(c).all() for c in counts)
    for got, ref in zip(counts, expected):
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)
    assert counts[-1].sum() == pytest.approx(15)


def test_hard_em_ties_are_broken_at_random():
    model = one_root_model("hard_em", 2)
    model.layers[-1].accumulators.assign([[1.0], [1.0]])
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(model(tf.zeros((4000, 2))))
    counts = tape.gradient(total, model.layers[-1].accumulators).numpy()[:, 0]
    assert counts.sum() == 4000
    assert abs(counts[0] / 4000 - 0.5) < 0.05


def root_children_in_training(model, x):
    """Log-values of the root's children in a training call (the sums without the zero sample's correction)."""
    values = tf.constant(x)
    for layer in model.layers[:-1]:
        values = layer(values, training=True)
    return values.numpy().reshape(len(x), -1)


@pytest.mark.parametrize(
    ("sum_op", "jit_compile"), [("unweighted_hard_em", "auto"), ("unweighted_hard_em", False), ("hard_em", "auto")]
)
def test_fit_breaks_ties_of_a_marginalized_variable_at_random(sum_op, jit_compile):
    # With variable 1 missing, products (i, 0) and (i, 1) are equal: both factors of variable 1 are 1. The training
    # step's sums skip the zero sample's correction, so there they may differ by a rounding step; the step must still
    # split the samples between them (about half each), as a call outside training does, not hand all to one.
    keras.utils.set_random_seed(3)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((2,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2, sum_op=sum_op),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op),
        ]
    )
    x = np.array([[0, -1]] * 400, np.int32)
    model(x[:1])
    leaf_sums, root = model.layers[2], model.layers[-1]
    # Weights under which the tied values differ in a training call (whether they round apart depends on them);
    # the tie must be split either way.
    for seed in range(20):
        leaf_sums.accumulators.assign(np.exp(np.random.default_rng(seed).normal(size=leaf_sums.accumulators.shape)))
        values = root_children_in_training(model, x[:1])[0]
        if values[0] != values[1] or values[2] != values[3]:
            break
    root.accumulators.assign(np.ones(root.accumulators.shape))  # equal weights: hard EM ties where the values do
    model.compile(optimizer=em_optimizer(1.0), jit_compile=jit_compile)
    model.fit(x, batch_size=400, epochs=1, shuffle=False, verbose=0)
    weights = root.accumulators.numpy()[:, 0] / root.accumulators.numpy().sum()
    # Product i * 2 + j; the winning i is the one of the larger value of variable 0's sums.
    winner = int(np.argmax(values[::2]))
    tied = weights[2 * winner : 2 * winner + 2]
    assert tied.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.abs(tied - 0.5) < 0.15), weights  # 400 samples split at random: 0.5 +- 0.025


@pytest.mark.parametrize("cls", [SumOpHardEMBackprop, SumOpUnweightedHardEMBackprop])
def test_sample_prob_is_validated_and_serialized(cls):
    op = cls(sample_prob=0.25)
    assert op.get_config() == {"sample_prob": 0.25}
    assert sum_ops.get(sum_ops.serialize(op)) == op
    layer = layers.DenseSum(num_sums=2, sum_op=op)
    assert layers.DenseSum.from_config(layer.get_config()).sum_op == op
    assert cls().get_config() == {}
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="sample_prob"):
            cls(sample_prob=bad)


@pytest.mark.parametrize("sum_op", ["hard_em", pytest.param("unweighted_hard_em", marks=pytest.mark.slow)])
def test_hard_em_improves_the_likelihood_on_nltcs_shaped_data(sum_op):
    # 16 binary variables like DEBD's nltcs, drawn from a mixture so that there is structure to learn.
    keras.utils.set_random_seed(7)
    data = correlated_binary_data(np.random.default_rng(7), 400, 16)
    model = rat_spn(16, 3, 3, sum_op, num_sums=4)
    model.compile(optimizer=em_optimizer(0.5), metrics=[metrics.LogLikelihood()], jit_compile=False)
    before = float(np.mean(model.log_likelihood(data)))
    history = model.fit(data, batch_size=100, epochs=5, shuffle=False, verbose=0).history["llh"]
    after = float(np.mean(model.log_likelihood(data)))
    assert np.all(np.isfinite(history))
    assert after > before + 0.5, (before, history, after)


def plain_sequential(sum_op):
    # A plain keras.Sequential: every sum runs through its layer's call (no fused pairs, no model step).
    return keras.Sequential(
        [
            keras.Input((8,), dtype="int32"),
            layers.FlatToRegions(num_decomps=2),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=3, sum_op=sum_op),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=3, sum_op=sum_op),
            layers.ReduceProduct(num_factors=4),
            layers.Undecompose(),
            layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op),
        ]
    )


ROUTED_MODELS = {
    # depth=1: one level of sums below the root, 20-25% less tracing and compiling than depth=2, and the
    # seeded runs still drew apart (first != second) before the fix.
    "rat_spn": lambda op: models.build_rat_spn(
        num_vars=8, depth=1, num_decomps=2, num_input_distributions=3, num_sums=3, sum_op=op
    ),
    "compiled_region_graph": lambda op: models.compile_region_graph(
        spn_region_graph.random_region_graph(8, depth=2, num_decomps=2, seed=3),
        layers.IndicatorLeaf(num_components=2),
        num_sums=3,
        input_dtype="int32",
        sum_op=op,
    ),
    "keras_sequential": plain_sequential,
}
ROUTED_OPS = {
    "hard_em_sample_prob": lambda: SumOpHardEMBackprop(sample_prob=0.5),
    "unweighted_sample_prob": lambda: SumOpUnweightedHardEMBackprop(sample_prob=1.0),
    "hard_em_ties": lambda: SumOpHardEMBackprop(),
}


def seeded_routed_model(build, make_op, seed):
    """A model built under ``seed`` (its sum layers' seed generators start from it), not compiled."""
    keras.utils.set_random_seed(seed)
    model = build(make_op())
    if make_op().sample_prob is None:
        # Equal weights everywhere: every choice of hard EM is a tie until the first update.
        for variable in model.trainable_variables:
            variable.assign(tf.ones_like(variable))
    return model


def start_values(model):
    # ``model.variables`` holds the seed generators' states too (Keras 3): the source of hard EM's draws.
    return [variable.numpy().copy() for variable in model.variables]


def seeded_routed_training(model, jit_compile):
    """Compiles ``model``; returns a function that trains it one epoch from given start values (``start_values`` of
    a model built by ``seeded_routed_model``) and returns its weights. Each run puts back the optimizer's start
    state and reruns the same compiled step: one trace and compile for all runs."""
    # A plain keras.Sequential takes the library's loss and a dummy target; the SPN models need neither.
    plain = not isinstance(model, models.SequentialSumProductNetwork)
    loss = losses.NegativeLogLikelihood() if plain else None
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.5), loss=loss, jit_compile=jit_compile)
    start = saved_state(model)
    x = (np.random.default_rng(0).random((48, 8)) < 0.4).astype(np.int32)

    def train(values):
        restore_state(start)
        for variable, value in zip(model.variables, values, strict=True):
            variable.assign(value)
        model.fit(x, np.zeros(len(x)) if plain else None, batch_size=16, epochs=1, shuffle=False, verbose=0)
        return model.get_weights()

    return train


@pytest.mark.parametrize(
    "structure, op, jit_compile",
    [
        # Core: a diagonal of structure x op (rat_spn with ties, keras_sequential with sample_prob).
        pytest.param("rat_spn", "hard_em_sample_prob", "auto", marks=pytest.mark.slow),
        ("rat_spn", "hard_em_ties", "auto"),
        ("keras_sequential", "hard_em_sample_prob", "auto"),
        pytest.param("rat_spn", "unweighted_sample_prob", "auto", marks=pytest.mark.slow),
        pytest.param("compiled_region_graph", "hard_em_sample_prob", "auto", marks=pytest.mark.slow),
        pytest.param("compiled_region_graph", "hard_em_ties", "auto", marks=pytest.mark.slow),
        pytest.param("keras_sequential", "hard_em_ties", "auto", marks=pytest.mark.slow),
        pytest.param("rat_spn", "hard_em_ties", False, marks=pytest.mark.slow),
    ],
)
def test_seeded_hard_em_training_repeats_under_the_default_xla_compile(structure, op, jit_compile):
    # The choices hard EM draws (sample_prob, ties) come from each sum layer's keras.random.SeedGenerator: under
    # XLA, the default compile of SPN models on CPUs too, stateful tf.random ops drew differently on every run.
    # One compiled model reruns its step from the start values of models built under each seed, instead of a
    # model built, traced and compiled per run: training is a function of the variables' values (seed generator
    # states included), which models built under the same seed share (checked here).
    build, make_op = ROUTED_MODELS[structure], ROUTED_OPS[op]
    model = seeded_routed_model(build, make_op, 0)
    seed_0 = start_values(model)
    for a, b in zip(seed_0, start_values(seeded_routed_model(build, make_op, 0)), strict=True):
        np.testing.assert_array_equal(a, b)
    train = seeded_routed_training(model, jit_compile)
    first = train(seed_0)
    second = train(seed_0)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # The draws decide what is learnt: another seed gives other choices.
    other = train(start_values(seeded_routed_model(build, make_op, 1)))
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


def test_a_sum_reached_once_per_cell_steps_further_than_eta():
    # Hard-EM counts enter the step as shares of the batch: a Conv2DSum's shared sums are reached once per cell,
    # their counts total T * N, and the step goes eta T / (1 - eta + eta T) of the way (the guide on sum ops).
    x = np.random.default_rng(0).integers(0, 2, (64, 4, 4, 1)).astype("int32")
    keras.utils.set_random_seed(0)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((4, 4, 1), dtype="int32"),
            layers.IndicatorLeaf(2),
            layers.Conv2DSum(2, sum_op="hard_em"),
            layers.Conv2DProduct(depthwise=True, strides=2, dilations=1, kernel_size=2),
            layers.Local2DSum(2, sum_op="hard_em"),
            layers.Conv2DProduct(depthwise=True, strides=2, dilations=1, kernel_size=2),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False, sum_op="hard_em"),
        ]
    )
    model(x[:1])
    conv = model.layers[1]
    conv.accumulators.assign([[0.3, 0.6], [0.7, 0.4]])
    before = normalize(conv.accumulators.numpy())
    with tf.GradientTape() as tape:
        log_p = tf.reduce_sum(model(x, training=True))
    counts = tape.gradient(log_p, conv.accumulators).numpy()
    visits = counts.sum(axis=0) / len(x)
    assert np.all(visits > 1.0)
    eta = 0.05
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=eta))
    model.train_on_batch(x)
    after = normalize(conv.accumulators.numpy())
    estimate = normalize(counts)
    expected = eta * visits / (1 - eta + eta * visits)
    np.testing.assert_allclose(
        (after - before) / (estimate - before), np.broadcast_to(expected, before.shape), rtol=1e-4
    )


@pytest.mark.parametrize("sum_op", [pytest.param("hard_em", marks=pytest.mark.slow), "unweighted_hard_em"])
def test_a_class_roots_hard_em_step_normalizes_its_counts_per_sum(sum_op):
    # As 0.6.0's weighted_children: with NegativeLogJoint each sample's signal goes to its label, and the class root
    # takes eta of the way to the weighted label shares, whatever the scale of the sample weights.
    rng = np.random.default_rng(0)
    x = (rng.random((16, 4)) < 0.4).astype("int32")
    y = rng.integers(0, 2, 16).astype("int32")
    sample_weight = rng.uniform(0.1, 0.6, 16).astype("float32")  # a total of about 5.6, not the batch size 16
    keras.utils.set_random_seed(0)
    model = models.build_rat_spn(
        4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2, num_classes=2, sum_op=sum_op
    )
    # Graph mode: a hard-EM class root's step under XLA (the default) runs in the core in test_em.py's
    # test_a_labelled_sample_of_probability_zero_adds_no_em_counts[unweighted_hard_em] (NegativeLogJoint, EM rate 1).
    model.compile(
        optimizer=optimizers.OnlineExpectationMaximization(0.4), loss=losses.NegativeLogJoint(), jit_compile=False
    )
    model(x[:1])
    root = model.layers[-1]
    before = normalize(root.accumulators.numpy()).ravel()
    model.fit(x, y, sample_weight=sample_weight, batch_size=16, epochs=1, verbose=0)
    shares = np.bincount(y, weights=sample_weight, minlength=2) / sample_weight.sum()
    np.testing.assert_allclose(normalize(root.accumulators.numpy()).ravel(), 0.6 * before + 0.4 * shares, atol=1e-5)


# The signed counts enter the optimizer's class-root step whatever the op; hard EM's class root: the test above.
@pytest.mark.parametrize("sum_op", ["em", pytest.param("hard_em", marks=pytest.mark.slow)])
def test_signed_counts_of_a_cross_entropy_at_a_class_root_are_taken_as_they_are(sum_op):
    # Cross-entropy sends a class root one-hot minus softmax: "counts" of total about 0 per sample. Normalizing them
    # per sum divided by rounding noise and collapsed the root onto one class; they enter the step as they are.
    rng = np.random.default_rng(0)
    x = (rng.random((16, 4)) < 0.4).astype("int32")
    y = (x[:, 0] ^ (rng.random(16) < 0.2)).astype("int32")
    keras.utils.set_random_seed(0)
    model = models.build_rat_spn(
        4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2, num_classes=2, sum_op=sum_op
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.4), loss=loss)
    model(x[:1])
    root = model.layers[-1]
    before = root.accumulators.numpy().astype(np.float64)
    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=True))
    counts = -tape.gradient(value, root.accumulators).numpy().astype(np.float64)
    assert counts.min() < 0 < counts.max() and abs(counts.sum()) < 1e-6
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    expected = normalize(0.6 * normalize(before) + 0.4 * counts)
    np.testing.assert_allclose(normalize(root.accumulators.numpy()), expected, atol=1e-5)


def test_a_root_made_a_class_root_after_build_normalizes_its_counts_per_sum():
    from libspn_keras.math.em_roles import em_role

    root = layers.RootSum(return_weighted_child_logits=False, sum_op="hard_em")
    root.build((None, 3))
    assert not em_role(root.accumulators).per_sum
    root.return_weighted_child_logits = True
    assert em_role(root.accumulators).per_sum
    root.return_weighted_child_logits = False
    assert not em_role(root.accumulators).per_sum
