"""EM training (soft EM, sampling, leaves) against independent references; hard EM is in ``test_hard_em``.

The references never use the library's EM code: expected edge counts come
from explicit enumeration of the latent choices (induced trees) of a tiny
model in numpy, cross-checked by the identity ``n_sc = d log P / d log w_sc``
on a separate model trained by true gradients; Gaussian leaf updates come
from responsibilities computed by hand.
"""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, mixture_steps, np_logsumexp, sum_layers
from tensorflow import keras

from libspn_keras import constraints, layers, losses, metrics, models, optimizers

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


def normalize(a, axis=-2):
    a = np.asarray(a, dtype=np.float64)
    return a / a.sum(axis=axis, keepdims=True)


def weights_of(model):
    return [normalize(layer.accumulators.numpy()) for layer in sum_layers(model)]


# --------------------------------------------------------------------------------------------------------------
# The tiny model: 2 binary variables, R decompositions.
#   FlatToRegions(R) -> IndicatorLeaf(2) -> DenseSum(2)     accumulators A0 [var, r, c, i]
#   -> DenseProduct(2)                                       product node (i, j) = i * 2 + j
#   -> DenseSum(2)                                           accumulators A1 [0, r, i * 2 + j, k]
#   -> RootSum(False)                                        accumulators A2 [r * 2 + k, 0]
# A latent assignment (an induced tree) is z = (r, k, i, j, c0, c1).
# --------------------------------------------------------------------------------------------------------------

R = 2


def tiny_model(
    sum_op,
    logspace=None,
    num_decomps=R,
    return_weighted_child_logits=False,
    num_top_sums=2,
    logspace_constraint=None,
    **model_kwargs,
):
    s = dict(sum_op=sum_op, logspace_accumulators=logspace, logspace_accumulator_constraint=logspace_constraint)
    return models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=num_decomps, input_shape=[2], dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2, **s),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=num_top_sums, **s),
            layers.RootSum(return_weighted_child_logits=return_weighted_child_logits, **s),
        ],
        **model_kwargs,
    )


def random_tiny_accumulators(rng):
    """Unnormalized positive accumulators (the layers must normalize them)."""
    return [
        rng.uniform(0.1, 3.0, size=(2, R, 2, 2)),
        rng.uniform(0.1, 3.0, size=(1, R, 4, 2)),
        rng.uniform(0.1, 3.0, size=(2 * R, 1)),
    ]


def set_accumulators(model, accumulators, logspace=False):
    model(np.zeros((1, 2), np.int32))
    for layer, value in zip(sum_layers(model), accumulators):
        assert tuple(layer.accumulators.shape) == value.shape
        if logspace:
            value = np.log(normalize(value))
        layer.accumulators.assign(value.astype(np.float32))


def tiny_joint(x, accumulators):
    """``p(x, z)`` for every sample and latent assignment: ``[N, r, k, i, j, c0, c1]``."""
    w0, w1, w2 = (normalize(a) for a in accumulators)
    x = np.asarray(x)
    ind = np.stack([(x < 0) | (x == c) for c in range(2)], axis=-1).astype(np.float64)  # [N, var, c]
    joint = np.zeros((len(x), R, 2, 2, 2, 2, 2))
    for r, k, i, j, c0, c1 in itertools.product(range(R), range(2), range(2), range(2), range(2), range(2)):
        weight = w2[r * 2 + k, 0] * w1[0, r, i * 2 + j, k] * w0[0, r, c0, i] * w0[1, r, c1, j]
        joint[:, r, k, i, j, c0, c1] = weight * ind[:, 0, c0] * ind[:, 1, c1]
    return joint


def counts_from_posterior(post):
    """Edge counts of the three sum layers from posteriors over z, ``[N, r, k, i, j, c0, c1]`` (summed over N)."""
    n0 = np.zeros((2, R, 2, 2))
    n1 = np.zeros((1, R, 4, 2))
    n2 = np.zeros((2 * R, 1))
    total = post.sum(axis=0)
    for r, k, i, j, c0, c1 in itertools.product(range(R), range(2), range(2), range(2), range(2), range(2)):
        p = total[r, k, i, j, c0, c1]
        n2[r * 2 + k, 0] += p
        n1[0, r, i * 2 + j, k] += p
        n0[0, r, c0, i] += p
        n0[1, r, c1, j] += p
    return [n0, n1, n2]


def expected_counts(x, accumulators):
    joint = tiny_joint(x, accumulators)
    post = joint / joint.sum(axis=(1, 2, 3, 4, 5, 6), keepdims=True)
    return counts_from_posterior(post)


def em_estimate(old_accumulators, counts):
    """Normalized counts; sums that received no count keep their old weights."""
    out = []
    for old, n in zip(old_accumulators, counts):
        total = n.sum(axis=-2, keepdims=True)
        out.append(np.where(total > 0, n / np.where(total > 0, total, 1.0), normalize(old)))
    return out


def tiny_data(rng, size=60):
    probs = np.array([0.45, 0.1, 0.15, 0.3])  # over (x0, x1) = 00, 01, 10, 11
    codes = rng.choice(4, size=size, p=probs)
    return np.stack([codes // 2, codes % 2], axis=1).astype(np.int32)


def em_optimizer(learning_rate=1.0, accumulate_batches=1):
    return optimizers.OnlineExpectationMaximization(learning_rate=learning_rate, accumulate_batches=accumulate_batches)


def sum_gradients(model, x):
    """Gradients of ``sum_x model(x)`` w.r.t. every accumulator (EM counts under EM sum ops)."""
    variables = [layer.accumulators for layer in sum_layers(model)]
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(model(x))
    return [g.numpy().astype(np.float64) for g in tape.gradient(total, variables)]


# --------------------------------------------------------------------------------------------------------------
# (b) soft EM counts and M-step
# --------------------------------------------------------------------------------------------------------------


def counts_from_log_space_gradients(x, accumulators, projected):
    """Expected counts from the gradients of a 'grad' model with log-space accumulators.

    Without a constraint (``projected``, the default) the gradient passes
    through the softmax, and ``n_sc = d log P / d a_sc + w_sc * n_s``, with
    ``n_s`` found top-down: the root is reached by every sample, every other
    sum by the counts of the edges entering it. Under ``LogNormalized``
    (0.6.0's gradient) it is that of the log-weights themselves,
    ``d log P / d log w_sc``, which is the count ``n_sc``.
    """
    model = tiny_model("grad", logspace=True, logspace_constraint=None if projected else constraints.LogNormalized())
    set_accumulators(model, accumulators, logspace=True)
    g0, g1, g2 = sum_gradients(model, x)
    if not projected:
        return [g0, g1, g2]
    w0, w1, w2 = (normalize(a) for a in accumulators)
    n2 = g2 + w2 * len(x)
    n_mid = n2[:, 0].reshape(R, 2)  # reach of the middle sum (r, k)
    n1 = g1 + w1 * n_mid[None, :, None, :]
    per_product = n1[0].sum(axis=-1).reshape(R, 2, 2)  # reach of product (r, i, j)
    reach_leaf = np.stack([per_product.sum(axis=2), per_product.sum(axis=1)])  # [var, r, i]
    n0 = g0 + w0 * reach_leaf[:, :, None, :]
    return [n0, n1, n2]


def test_soft_em_counts_match_enumeration_and_gradient_identity():
    rng = np.random.default_rng(0)
    x = tiny_data(rng)
    x[:5, 1] = -1  # some missing values: the leaf sums of variable 1 then see both indicators
    acc = random_tiny_accumulators(rng)
    reference = expected_counts(x, acc)
    for projected in (False, True):
        via_gradients = counts_from_log_space_gradients(x, acc, projected)
        for ref, alt in zip(reference, via_gradients):
            np.testing.assert_allclose(alt, ref, atol=1e-4)

    model = tiny_model("em")
    set_accumulators(model, acc)
    counts = sum_gradients(model, x)
    for got, ref in zip(counts, reference):
        np.testing.assert_allclose(got, ref, atol=1e-4)
    assert counts[-1].sum() == pytest.approx(len(x), abs=1e-4), "root counts must sum to the batch size"
    # Each decomposition's leaf sums see as much flow as the decomposition gets from the root.
    np.testing.assert_allclose(counts[0][0].sum(axis=(1, 2)), counts[-1][:, 0].reshape(R, 2).sum(axis=1), atol=1e-4)


def test_soft_em_step_equals_brute_force_m_step():
    rng = np.random.default_rng(1)
    x = tiny_data(rng)
    acc = random_tiny_accumulators(rng)
    expected = em_estimate(acc, expected_counts(x, acc))

    model = tiny_model("em")
    set_accumulators(model, acc)
    model.compile(optimizer=em_optimizer(1.0), metrics=[metrics.LogLikelihood()])
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    for got, ref in zip(weights_of(model), expected):
        np.testing.assert_allclose(got, ref, atol=1e-5)


def test_soft_em_partial_step_and_accumulated_batches():
    rng = np.random.default_rng(2)
    x = tiny_data(rng, size=40)
    acc = random_tiny_accumulators(rng)
    w_em = em_estimate(acc, expected_counts(x, acc))

    eta = 0.3
    model = tiny_model("em")
    set_accumulators(model, acc)
    # Graph mode: partial steps under XLA (the default) follow the same reference in
    # test_soft_em_step_follows_a_learning_rate_schedule; the accumulated batches below run under XLA.
    model.compile(optimizer=em_optimizer(eta), jit_compile=False)
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    for got, old, em in zip(weights_of(model), acc, w_em):
        np.testing.assert_allclose(got, (1 - eta) * normalize(old) + eta * em, atol=1e-5)

    # Two half batches, accumulated: nothing changes after the first; after the second, one step towards the
    # average of the two batches' EM estimates (libspn-keras 0.6.0 averages the per-batch estimates).
    w_em = [(a + b) / 2 for a, b in zip(*(em_estimate(acc, expected_counts(half, acc)) for half in (x[:20], x[20:])))]
    eta = 0.6
    model = tiny_model("em")
    set_accumulators(model, acc)
    model.compile(optimizer=em_optimizer(eta, accumulate_batches=2))
    model.fit(x[:20], batch_size=20, epochs=1, shuffle=False, verbose=0)
    for got, old in zip(weights_of(model), acc):
        np.testing.assert_allclose(got, normalize(old), atol=1e-6)
    model.fit(x[20:], batch_size=20, epochs=1, shuffle=False, verbose=0)
    after_two = weights_of(model)
    for got, old, em in zip(after_two, acc, w_em):
        np.testing.assert_allclose(got, (1 - eta) * normalize(old) + eta * em, atol=1e-5)
    # A third batch alone does not move the weights again (the counts were reset).
    model.fit(x[:20], batch_size=20, epochs=1, shuffle=False, verbose=0)
    for got, prev in zip(weights_of(model), after_two):
        np.testing.assert_allclose(got, prev, atol=1e-6)


@pytest.mark.parametrize("eta", [0.6, pytest.param(1.0, marks=pytest.mark.slow)])
def test_accumulated_batches_of_which_only_some_reach_a_sum_step_it_by_their_share(eta):
    # One variable of 3 states under two class sums (NegativeLogJoint); the first batch holds only class 0,
    # so the class-1 sum is reached by m = 1 of the k = 2 accumulated batches.
    x = np.array([[0], [1], [2], [0], [1], [2], [0], [0]], np.int32)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 0], np.int32)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((1,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=3),
            layers.DenseSum(num_sums=2, sum_op="em"),
            layers.RootSum(return_weighted_child_logits=True, sum_op="em"),
        ],
        unsupervised=False,
    )
    model(x[:1])
    old = np.array([[0.5, 0.2], [0.3, 0.3], [0.2, 0.5]])  # [state, class]
    model.layers[2].accumulators.assign(old.reshape(1, 1, 3, 2).astype(np.float32))
    model.layers[3].accumulators.assign(np.array([[0.5], [0.5]], np.float32))
    model.compile(optimizer=em_optimizer(eta, accumulate_batches=2), loss=losses.NegativeLogJoint())
    model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    got = model.layers[2].accumulators.numpy().reshape(3, 2).astype(np.float64)
    got /= got.sum(axis=0)
    # Class 0, reached by both batches: a step of eta towards the average of the two batches' estimates.
    estimates_0 = [np.bincount(x[:4, 0], minlength=3) / 4, np.bincount(x[4:, 0][y[4:] == 0], minlength=3) / 1]
    np.testing.assert_allclose(got[:, 0], (1 - eta) * old[:, 0] + eta * np.mean(estimates_0, axis=0), atol=1e-6)
    # Class 1: its one estimate averaged with an empty one, renormalized (docs/guide/sum_ops.md, as in 0.6.0).
    estimate_1 = np.bincount(x[4:, 0][y[4:] == 1], minlength=3) / 3
    m, k = 1, 2
    expected = ((1 - eta) * old[:, 1] + eta / k * estimate_1) / (1 - eta + eta * m / k)
    np.testing.assert_allclose(got[:, 1], expected, atol=1e-6)
    step = (eta * m / k) / (1 - eta + eta * m / k)
    np.testing.assert_allclose(got[:, 1], (1 - step) * old[:, 1] + step * estimate_1, atol=1e-6)


def rat_spn(num_vars, depth, num_decomps, sum_op, num_sums=2):
    stack = [
        layers.FlatToRegions(num_decomps=num_decomps, input_shape=[num_vars], dtype="int32"),
        layers.IndicatorLeaf(num_components=2),
        layers.DenseSum(num_sums=num_sums, sum_op=sum_op),
        layers.PermuteAndPadScopesRandom(),
        layers.ReduceProduct(num_factors=math.ceil(num_vars / 2**depth)),
    ]
    for level in range(depth):
        stack += [
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=num_sums if level < depth - 1 else 1, sum_op=sum_op),
        ]
    stack.append(layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op))
    return models.SequentialSumProductNetwork(stack)


def correlated_binary_data(rng, size, num_vars):
    """Data from a 2-component mixture of independent Bernoullis, so there is structure to learn."""
    component = rng.integers(0, 2, size=size)
    probs = np.where(component[:, None] == 0, np.linspace(0.1, 0.9, num_vars), np.linspace(0.8, 0.2, num_vars))
    return (rng.uniform(size=(size, num_vars)) < probs).astype(np.int32)


# Slow extra: the log-likelihood never decreases over 8 default-compiled (XLA) steps checked against enumeration, and
# fit reports the log-likelihood before each step, in
# test_tiny_model_soft_em_log_likelihood_never_decreases_against_enumeration.
@pytest.mark.slow
def test_soft_em_log_likelihood_never_decreases():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = correlated_binary_data(rng, 300, 5)
    model = rat_spn(5, 2, 2, "em")
    model.compile(optimizer=em_optimizer(1.0), metrics=[metrics.LogLikelihood()])
    lls = [float(np.mean(model(x)))]
    # One fit of 8 one-step epochs, not 8 fits: the log-likelihood after each step, from the model's own call.
    after_each_step = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: lls.append(float(np.mean(model(x)))))
    model.fit(x, batch_size=len(x), epochs=8, shuffle=False, verbose=0, callbacks=[after_each_step])
    assert len(lls) == 9
    assert np.all(np.diff(lls) >= -1e-5), lls
    assert lls[-1] > lls[0] + 0.05, lls
    # The metric reported by fit is the log-likelihood before each step.
    history = model.fit(x, batch_size=len(x), epochs=2, shuffle=False, verbose=0).history["llh"]
    assert history[0] == pytest.approx(lls[-1], abs=1e-4)
    assert history[1] >= history[0] - 1e-5


def test_tiny_model_soft_em_log_likelihood_never_decreases_against_enumeration():
    rng = np.random.default_rng(4)
    x = tiny_data(rng, size=80)
    acc = random_tiny_accumulators(rng)
    model = tiny_model("em")
    set_accumulators(model, acc)
    model.compile(optimizer=em_optimizer(1.0), metrics=[metrics.LogLikelihood()])
    # One fit of 8 one-step epochs, not 8 fits: the model's log-likelihood before each step and its weights after.
    seen = []
    each_step = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda *_: seen.append([float(np.sum(model(x)))]),
        on_epoch_end=lambda *_: seen[-1].append(weights_of(model)),
    )
    history = model.fit(x, batch_size=len(x), epochs=8, shuffle=False, verbose=0, callbacks=[each_step]).history
    assert len(seen) == 8
    # The metric reported by fit is the log-likelihood before each step.
    np.testing.assert_allclose(history["llh"], [model_ll / len(x) for model_ll, _ in seen], atol=1e-4)
    reference_acc = acc
    lls = []
    for model_ll, weights_after in seen:
        joint = tiny_joint(x, reference_acc)
        reference_ll = np.log(joint.reshape(len(x), -1).sum(axis=1)).sum()
        assert model_ll == pytest.approx(reference_ll, abs=1e-3)
        lls.append(reference_ll)
        reference_acc = em_estimate(reference_acc, expected_counts(x, reference_acc))
        for got, ref in zip(weights_after, reference_acc):
            np.testing.assert_allclose(got, ref, atol=1e-4)
    assert np.all(np.diff(lls) >= -1e-5 * len(x))


# --------------------------------------------------------------------------------------------------------------
# (d) hard EM and unweighted hard EM: tests/test_hard_em.py
# --------------------------------------------------------------------------------------------------------------


def one_root_model(sum_op, num_children):
    return keras.Sequential(
        [keras.Input(shape=(num_children,)), layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op)]
    )


# --------------------------------------------------------------------------------------------------------------
# (e) sampling
# --------------------------------------------------------------------------------------------------------------


def test_sample_op_picks_children_in_proportion_to_posterior():
    rng = np.random.default_rng(9)
    acc = random_tiny_accumulators(rng)
    model = tiny_model("sample")
    set_accumulators(model, acc)
    draws = 20000
    x = np.tile(np.array([[1, -1]], np.int32), (draws, 1))  # variable 1 unobserved: its leaf sums sample too
    keras.utils.set_random_seed(10)
    counts = sum_gradients(model, x)
    reference = expected_counts(x[:1], acc)  # posterior of one sample = expected frequencies
    for got, ref in zip(counts, reference):
        np.testing.assert_array_equal(got, np.round(got))
        np.testing.assert_allclose(got / draws, ref, atol=0.02)
    assert counts[-1].sum() == draws
    # Forward pass is the exact marginal.
    joint = tiny_joint(x[:1], acc)
    assert float(model(x[:1])[0, 0]) == pytest.approx(np.log(joint.sum()), abs=1e-5)

    # Chi-square test at the root (4 children): statistic below the 99.9% quantile of chi2(3) = 16.27.
    observed = counts[-1][:, 0]
    expected = reference[-1][:, 0] * draws
    chi2 = np.sum((observed - expected) ** 2 / expected)
    assert chi2 < 16.27, (observed, expected)


def test_sample_op_root_frequencies_are_w_times_s():
    model = one_root_model("sample", 3)
    w = np.array([0.2, 0.5, 0.3])
    s = np.array([0.5, 0.1, 0.4])
    model.layers[-1].accumulators.assign((w * 4.0)[:, None])
    draws = 20000
    x = tf.constant(np.log(np.tile(s, (draws, 1))), dtype=tf.float32)
    keras.utils.set_random_seed(11)
    with tf.GradientTape() as tape:
        out = model(x)
        total = tf.reduce_sum(out)
    counts = tape.gradient(total, model.layers[-1].accumulators).numpy()[:, 0]
    np.testing.assert_allclose(out.numpy(), np.log(w @ s), atol=1e-6)
    np.testing.assert_allclose(counts / draws, w * s / (w @ s), atol=0.02)


# --------------------------------------------------------------------------------------------------------------
# (f) Gaussian leaves
# --------------------------------------------------------------------------------------------------------------


def leaf_of(model):
    return next(layer for layer in model.layers if isinstance(layer, layers.NormalLeaf))


def test_single_gaussian_leaf_em_step_gives_mean_and_population_std():
    rng = np.random.default_rng(12)
    x = rng.normal(loc=2.5, scale=0.7, size=(500, 1)).astype(np.float32)
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1]),
            layers.NormalLeaf(num_components=1, use_accumulators=True, scale_trainable=True),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    model.compile(optimizer=em_optimizer(1.0))
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    leaf = leaf_of(model)
    data = x[:, 0].astype(np.float64)
    assert float(np.squeeze(leaf.location_tensor())) == pytest.approx(data.mean(), abs=1e-4)
    assert float(np.squeeze(leaf.scale_tensor())) == pytest.approx(data.std(), abs=1e-4)
    # The model now computes the log-density of that Gaussian.
    mean, std = data.mean(), data.std()
    reference = -0.5 * np.log(2 * np.pi * std**2) - (data - mean) ** 2 / (2 * std**2)
    np.testing.assert_allclose(model(x).numpy()[:, 0], reference, atol=1e-3)


# Slow extra: test_leaf_moments_of_data_far_from_zero_keep_their_digits[1000000000.0] checks the variance of an EM
# step on data far further from zero, to 1e-6.
@pytest.mark.slow
def test_gaussian_leaf_em_variance_is_accurate_for_offset_data():
    x = np.random.default_rng(18).normal(loc=1000.0, scale=1.0, size=(500, 1)).astype(np.float32)
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1]),
            layers.NormalLeaf(num_components=1, use_accumulators=True, scale_trainable=True),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    model.compile(optimizer=em_optimizer(1.0))
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    std = x[:, 0].astype(np.float64).std()
    assert float(np.squeeze(leaf_of(model).scale_tensor())) == pytest.approx(std, rel=0.01)


def normal_log_pdf(x, mean, var):
    return -0.5 * np.log(2 * np.pi * var) - (x - mean) ** 2 / (2 * var)


def set_leaf_statistics(leaf, means, variances):
    means = np.asarray(means, dtype=np.float64)
    variances = np.asarray(variances, dtype=np.float64)
    shape = tuple(leaf.statistics.shape)
    # The stored layout: n * (1, mean, variance), here with n = 1.
    stats = np.stack([np.ones_like(means), means, variances], axis=-1).reshape(shape)
    leaf.statistics.assign(stats.astype(np.float32))


def responsibility_weighted_moments(data, log_joint):
    """Responsibilities of a one-variable mixture (``log_joint`` ``[samples, components]``) and each component's
    responsibility-weighted mean and variance of ``data``: the moments an EM step matches."""
    resp = np.exp(log_joint - np_logsumexp(log_joint, axis=1)[:, None])
    means = (resp * data[:, None]).sum(axis=0) / resp.sum(axis=0)
    variances = (resp * (data[:, None] - means) ** 2).sum(axis=0) / resp.sum(axis=0)
    return resp, means, variances


def test_gaussian_mixture_em_step_matches_hand_computed_responsibilities():
    rng = np.random.default_rng(13)
    x = np.concatenate([rng.normal(-1.0, 0.5, size=150), rng.normal(2.0, 1.0, size=250)]).astype(np.float32)[:, None]
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1]),
            layers.NormalLeaf(num_components=2, use_accumulators=True, scale_trainable=True),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    model(x[:1])
    leaf = leaf_of(model)
    assert tuple(leaf.statistics.shape) == (1, 1, 2, 1, 3)
    means, variances, weights = np.array([-0.3, 0.8]), np.array([1.5, 0.6]), np.array([0.35, 0.65])
    set_leaf_statistics(leaf, means, variances)
    model.layers[-1].accumulators.assign((weights * 2.0)[:, None].astype(np.float32))

    data = x[:, 0].astype(np.float64)
    log_joint = np.log(weights) + normal_log_pdf(data[:, None], means, variances)
    np.testing.assert_allclose(model(x).numpy()[:, 0], np_logsumexp(log_joint, axis=1), atol=1e-4)
    resp, new_means, new_vars = responsibility_weighted_moments(data, log_joint)
    new_weights = resp.mean(axis=0)

    model.compile(optimizer=em_optimizer(1.0))
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(np.squeeze(leaf.location_tensor().numpy()), new_means, atol=1e-4)
    np.testing.assert_allclose(np.squeeze(leaf.scale_tensor().numpy()) ** 2, new_vars, atol=1e-4)
    np.testing.assert_allclose(normalize(model.layers[-1].accumulators.numpy())[:, 0], new_weights, atol=1e-5)


def test_gaussian_leaves_under_products_get_marginal_responsibilities():
    """Two variables, 2 components each, root over the 4 products: responsibilities marginalize the other variable."""
    rng = np.random.default_rng(14)
    x = rng.normal(size=(300, 2)).astype(np.float32) * [1.0, 2.0] + [0.5, -1.0]
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[2]),
            layers.NormalLeaf(num_components=2, use_accumulators=True, scale_trainable=True),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    model(x[:1])
    leaf = leaf_of(model)
    assert tuple(leaf.statistics.shape) == (2, 1, 2, 1, 3)
    means = np.array([[-0.5, 1.0], [0.0, -2.0]])  # [var, component]
    variances = np.array([[1.0, 0.5], [2.0, 3.0]])
    set_leaf_statistics(leaf, means, variances)
    root_w = np.array([0.1, 0.2, 0.3, 0.4])  # product (i, j) = i * 2 + j
    model.layers[-1].accumulators.assign(root_w[:, None].astype(np.float32))

    data = x.astype(np.float64)
    lp = normal_log_pdf(data[:, :, None], means[None], variances[None])  # [N, var, comp]
    log_joint = np.log(root_w).reshape(2, 2)[None] + lp[:, 0, :, None] + lp[:, 1, None, :]  # [N, i, j]
    post = np.exp(log_joint - np_logsumexp(log_joint.reshape(len(x), -1), axis=1)[:, None, None])
    resp = np.stack([post.sum(axis=2), post.sum(axis=1)], axis=1)  # [N, var, comp]
    new_means = (resp * data[:, :, None]).sum(axis=0) / resp.sum(axis=0)
    new_vars = (resp * (data[:, :, None] - new_means) ** 2).sum(axis=0) / resp.sum(axis=0)

    model.compile(optimizer=em_optimizer(1.0))
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(leaf.location_tensor().numpy().reshape(2, 2), new_means, atol=1e-4)
    np.testing.assert_allclose(leaf.scale_tensor().numpy().reshape(2, 2) ** 2, new_vars, atol=1e-4)
    np.testing.assert_allclose(
        normalize(model.layers[-1].accumulators.numpy())[:, 0], post.reshape(len(x), 4).mean(axis=0), atol=1e-5
    )


# --------------------------------------------------------------------------------------------------------------
# (g) supervised generative training
# --------------------------------------------------------------------------------------------------------------


def test_supervised_em_sets_class_root_weights_to_class_frequencies():
    rng = np.random.default_rng(15)
    x = tiny_data(rng, size=90)
    y = rng.choice(3, size=90, p=[0.2, 0.5, 0.3]).astype(np.int32)
    model = tiny_model("em", num_decomps=1, return_weighted_child_logits=True, num_top_sums=3)
    model(x[:1])
    root = model.layers[-1]
    assert tuple(root.accumulators.shape) == (3, 1)
    logits = model(x).numpy()
    assert logits.shape == (90, 3)
    model.compile(optimizer=em_optimizer(1.0), loss=losses.NegativeLogJoint(), metrics=[metrics.LogJoint()])
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(normalize(root.accumulators.numpy())[:, 0], np.bincount(y, minlength=3) / 90, atol=1e-5)
    # The class-conditional sum of class c is fit on the samples of class c only: leaf weights change too.
    joint_after = model(x).numpy()
    assert np.mean(joint_after[np.arange(90), y]) > np.mean(logits[np.arange(90), y])


# --------------------------------------------------------------------------------------------------------------
# (h) XLA
# --------------------------------------------------------------------------------------------------------------


# Slow extra: the default compile is XLA, under which
# test_tiny_model_soft_em_log_likelihood_never_decreases_against_enumeration checks 8 full-batch steps of this model,
# and their reported log-likelihoods, against the same reference.
@pytest.mark.slow
def test_fit_under_jit_compile_matches_reference_step():
    sum_op = "em"
    rng = np.random.default_rng(16)
    x = tiny_data(rng, size=64)
    acc = random_tiny_accumulators(rng)
    counts = expected_counts(x, acc)
    model = tiny_model(sum_op)
    set_accumulators(model, acc)
    model.compile(optimizer=em_optimizer(1.0), metrics=[metrics.LogLikelihood()], jit_compile=True)
    history = model.fit(x, batch_size=len(x), epochs=2, shuffle=False, verbose=0).history["llh"]
    assert np.all(np.isfinite(history))
    assert history[1] >= history[0] - 1e-5
    # The reference takes the same two full-batch steps.
    first = em_estimate(acc, counts)
    counts_2 = expected_counts(x, first)
    second = em_estimate(first, counts_2)
    for got, ref in zip(weights_of(model), second):
        np.testing.assert_allclose(got, ref, atol=1e-4)


def test_em_optimizer_rejects_gradient_sums_with_linear_accumulators():
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((2,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=1, sum_op="grad", logspace_accumulators=False),
            layers.ReduceProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(1.0))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="does not deliver edge counts") as refused:
        model.fit(all_binary(2), batch_size=4, verbose=0)
    # Raised before Keras traces the step: the message is not wrapped in the trace's "in user code" traceback.
    assert str(refused.value).startswith("OnlineExpectationMaximization: sum layer")
    for got, old in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, old)


@pytest.mark.parametrize("use_em_sums", [True, False])
def test_em_statistics_refuse_gradient_optimizers(use_em_sums):
    stack = [
        keras.Input((1,)),
        layers.FlatToRegions(num_decomps=1),
        layers.NormalLeaf(num_components=2, use_accumulators=not use_em_sums),
        layers.RootSum(return_weighted_child_logits=False, sum_op="em" if use_em_sums else "grad"),
    ]
    model = models.SequentialSumProductNetwork(stack)
    # Compiling is allowed (the model can still be evaluated); training is refused before any update.
    model.compile(optimizer=keras.optimizers.Adam())
    x = np.linspace(-1.0, 1.0, 8, dtype="float32")[:, None]
    before = [w.copy() for w in model.get_weights()]
    model.evaluate(x, verbose=0)
    with pytest.raises(ValueError, match="receives EM counts") as refused:
        model.fit(x, verbose=0)
    # Raised before Keras traces the step: the message is not wrapped in the trace's "in user code" traceback.
    assert str(refused.value).startswith(f"Model '{model.name}'")
    with pytest.raises(ValueError, match="receives EM counts"):
        model.train_on_batch(x)
    for got, old in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, old)


def test_fixed_locations_stay_fixed_under_leaf_em():
    x = np.random.default_rng(0).normal(loc=3.0, scale=2.0, size=(400, 1)).astype("float32")
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((1,)),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(
                num_components=1,
                use_accumulators=True,
                location_trainable=False,
                scale_trainable=True,
                location_initializer=keras.initializers.Constant(1.0),
            ),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(1.0))
    model.fit(x, batch_size=400, verbose=0)
    leaf = model.layers[1]
    assert float(np.squeeze(leaf.location_tensor())) == pytest.approx(1.0)
    # The maximum-likelihood variance about the fixed mean 1 is E[(x - 1)^2].
    expected = np.sqrt(np.mean((x.astype(np.float64) - 1.0) ** 2))
    assert float(np.squeeze(leaf.scale_tensor())) == pytest.approx(expected, rel=1e-4)


def test_leaf_statistics_are_trainable_only_when_em_updates_them():
    # As 0.6.0's moment accumulators: trainable with the location or the scale, frozen with neither.
    x = np.random.default_rng(1).normal(size=(64, 1)).astype("float32")
    for location_trainable, scale_trainable in ((False, False), (True, False), (False, True)):
        leaf = layers.NormalLeaf(
            num_components=2,
            use_accumulators=True,
            location_trainable=location_trainable,
            scale_trainable=scale_trainable,
            location_initializer=keras.initializers.Constant([[-1.0, 1.0]]),
        )
        stack = [keras.Input((1,)), layers.FlatToRegions(num_decomps=1), leaf]
        model = models.SequentialSumProductNetwork(
            [*stack, layers.RootSum(return_weighted_child_logits=False, sum_op="em")]
        )
        trainable = location_trainable or scale_trainable
        assert [v.name for v in leaf.trainable_weights] == (["statistics"] if trainable else [])
        assert model.count_params() - sum(int(np.prod(v.shape)) for v in model.trainable_weights) == (
            0 if trainable else 6
        )
        # Graph mode: leaf statistics are updated under XLA (the default) in the Gaussian leaf tests above.
        model.compile(optimizer=optimizers.OnlineExpectationMaximization(1.0), jit_compile=False)
        before = leaf.statistics.numpy().copy()
        model.fit(x, batch_size=64, verbose=0)
        assert np.array_equal(leaf.statistics.numpy(), before) is not trainable


def test_em_learning_rate_must_be_a_step_size():
    for bad in (1.5, -0.1, float("nan")):  # 0 is accepted as in 0.6.0 (nothing moves)
        with pytest.raises(ValueError, match="learning_rate"):
            optimizers.OnlineExpectationMaximization(learning_rate=bad)


# --------------------------------------------------------------------------------------------------------------
# (f) smoothing: pseudocounts on sum weights, a variance prior on leaves
# --------------------------------------------------------------------------------------------------------------


def smoothed_estimate(counts, batch_size, pseudocount):
    """Per-sample counts plus the pseudocount on every child, normalized per sum (every sum here is reached)."""
    out = []
    for n in counts:
        per_sample = n / batch_size + pseudocount
        out.append(per_sample / per_sample.sum(axis=-2, keepdims=True))
    return out


def test_pseudocount_keeps_unseen_states_and_composes_with_rate_and_accumulated_batches():
    rng = np.random.default_rng(21)
    x = tiny_data(rng, size=40)
    x[:, 1] = 0  # variable 1 never takes state 1: without smoothing its indicator gets no count at all
    acc = random_tiny_accumulators(rng)
    pseudocount, eta = 0.05, 0.7

    # Plain EM (eta = 1, no pseudocount) gives that indicator weight 0 (the accumulator floor). In graph mode: the
    # contrast for the smoothed step below, which runs under XLA (the default).
    model = tiny_model("em")
    set_accumulators(model, acc)
    model.compile(optimizer=em_optimizer(1.0), jit_compile=False)
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    assert weights_of(model)[0][1, :, 1, :].max() < 1e-6

    # Two half batches accumulated, each estimate smoothed, averaged, then one step of rate eta.
    halves = (x[:20], x[20:])
    estimates = [smoothed_estimate(expected_counts(half, acc), len(half), pseudocount) for half in halves]
    expected = [(1 - eta) * normalize(old) + eta * (a + b) / 2 for old, a, b in zip(acc, *estimates)]
    model = tiny_model("em")
    set_accumulators(model, acc)
    model.compile(
        optimizer=optimizers.OnlineExpectationMaximization(eta, accumulate_batches=2, pseudocount=pseudocount)
    )
    model.fit(x, batch_size=20, epochs=1, shuffle=False, verbose=0)
    got = weights_of(model)
    for weights, reference in zip(got, expected):
        np.testing.assert_allclose(weights, reference, atol=1e-5)
    # The unseen state keeps at least eta * a / (1 + K a) of every leaf sum.
    assert got[0][1, :, 1, :].min() >= eta * pseudocount / (1 + 2 * pseudocount) - 1e-6


def gaussian_model(num_components=1):
    return models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1]),
            layers.NormalLeaf(num_components=num_components, use_accumulators=True, scale_trainable=True),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )


def fit_one_gaussian(x, count, leaf_update, eta=0.6, pseudocount=0.2, prior_variance=2.0, **kwargs):
    """One Gaussian from mean 0.3, variance 0.5 and running count ``count``; two batches of 25 accumulated."""
    model = gaussian_model()
    model(x[:1])
    leaf = leaf_of(model)
    set_leaf_statistics(leaf, [0.3], [0.5])
    leaf.statistics.assign(leaf.statistics * count)
    model.compile(
        optimizer=optimizers.OnlineExpectationMaximization(
            eta,
            accumulate_batches=2,
            pseudocount=pseudocount,
            prior_variance=prior_variance,
            leaf_update=leaf_update,
            **kwargs,
        )
    )
    model.fit(x, batch_size=25, epochs=1, shuffle=False, verbose=0)
    return float(np.squeeze(leaf.location_tensor())), float(np.squeeze(leaf.scale_tensor())) ** 2, leaf


def test_variance_prior_matches_numpy_over_accumulated_batches():
    x = np.random.default_rng(22).normal(loc=1.5, scale=0.4, size=(50, 1)).astype(np.float32)
    pseudocount, prior_variance, eta = 0.2, 2.0, 0.6
    location, variance, _ = fit_one_gaussian(x, 1.0, "towards_estimate", eta, pseudocount, prior_variance)

    # One component: every sample's responsibility is 1. Per-sample moments about the old mean, averaged
    # over the two batches (equal sizes here), then the smoothed M-step and a step of rate eta.
    d = x[:, 0].astype(np.float64) - 0.3
    halves = np.split(d, 2)
    s1 = np.mean([h.mean() for h in halves])
    s2 = np.mean([(h**2).mean() for h in halves])
    em_variance = (s2 - s1**2 + pseudocount * prior_variance) / (1.0 + pseudocount)
    assert location == pytest.approx(0.3 + eta * s1, abs=1e-5)
    assert variance == pytest.approx((1 - eta) * 0.5 + eta * em_variance, rel=1e-5)


@pytest.mark.parametrize("count", [pytest.param(1.0, marks=pytest.mark.slow), 7.0])
def test_running_statistics_rule_matches_numpy_sums_over_accumulated_batches(count):
    # The default rule (0.6.0's): running averages of (n, sum x, sum x^2), read off as ratios. With a
    # pseudocount a, a pseudo-observations at the batch's EM mean with variance prior_variance join the batch.
    x = np.random.default_rng(23).normal(loc=1.5, scale=0.4, size=(50, 1)).astype(np.float32)
    pseudocount, prior_variance, eta = 0.2, 2.0, 0.6
    location, variance, leaf = fit_one_gaussian(x, count, "running_statistics", eta, pseudocount, prior_variance)

    values = x[:, 0].astype(np.float64)
    n, sx, sxx = 1.0, values.mean(), (values**2).mean()  # per-sample averages over both batches
    em_mean = sx / n
    n, sx, sxx = n + pseudocount, sx + pseudocount * em_mean, sxx + pseudocount * (em_mean**2 + prior_variance)
    old = np.array([count, count * 0.3, count * (0.5 + 0.3**2)])
    running = (1 - eta) * old + eta * np.array([n, sx, sxx])
    assert location == pytest.approx(running[1] / running[0], abs=1e-6)
    assert variance == pytest.approx(running[2] / running[0] - (running[1] / running[0]) ** 2, rel=1e-5)
    # Stored as (n, n * mean, n * variance): the running sum of squares centred.
    stored = [running[0], running[1], running[2] - running[1] ** 2 / running[0]]
    np.testing.assert_allclose(np.squeeze(leaf.statistics.numpy()), stored, rtol=1e-6)


# Slow extra: each rule matches numpy in the core, in
# test_running_statistics_rule_matches_numpy_sums_over_accumulated_batches,
# test_variance_prior_matches_numpy_over_accumulated_batches and test_two_normal_mixture_follows_the_leaf_rule_in_numpy.
@pytest.mark.slow
def test_leaf_update_rules_agree_for_a_full_step_and_differ_for_partial_steps():
    x = np.random.default_rng(24).normal(loc=-2.0, scale=0.7, size=(50, 1)).astype(np.float32)
    full = [fit_one_gaussian(x, 3.0, rule, eta=1.0)[:2] for rule in ("running_statistics", "towards_estimate")]
    np.testing.assert_allclose(full[0], full[1], rtol=1e-5)
    partial = [fit_one_gaussian(x, 3.0, rule, eta=0.3)[:2] for rule in ("running_statistics", "towards_estimate")]
    # With a running count of 3 against one batch's worth, the running statistics move less.
    assert abs(partial[0][0] - 0.3) < abs(partial[1][0] - 0.3) - 0.1


def test_running_statistics_of_unreached_components_decay_and_keep_their_moments():
    # Two components far apart; all data near the first. The second keeps its mean and variance, and its
    # count decays by (1 - eta) per step; many steps later the statistics are still finite.
    x = np.random.default_rng(25).normal(loc=0.0, scale=0.3, size=(40, 1)).astype(np.float32)
    model = gaussian_model(num_components=2)
    model(x[:1])
    leaf = leaf_of(model)
    set_leaf_statistics(leaf, [0.1, 50.0], [0.5, 0.25])
    eta = 0.9
    before = np.squeeze(leaf.statistics.numpy())[1]
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(eta))
    model.fit(x, batch_size=10, epochs=1, shuffle=False, verbose=0)
    stats = np.squeeze(leaf.statistics.numpy())
    np.testing.assert_allclose(stats[1], before * (1 - np.float64(np.float32(eta))) ** 4, rtol=1e-9)
    model.fit(np.tile(x, (100, 1)), batch_size=10, epochs=1, shuffle=False, verbose=0)  # 400 more steps
    assert np.all(np.isfinite(leaf.statistics.numpy()))
    assert float(np.squeeze(leaf.location_tensor())[1]) == pytest.approx(50.0)
    assert float(np.squeeze(leaf.scale_tensor())[1]) == pytest.approx(0.5, rel=1e-3)


@pytest.mark.parametrize("rule", ["running_statistics", "towards_estimate"])
def test_two_normal_mixture_follows_the_leaf_rule_in_numpy(rule):
    x = np.array([[-2.1], [-1.7], [-0.4], [0.3], [1.2], [2.5], [-1.1], [0.8], [1.9], [-2.6], [0.1], [1.4]], np.float32)
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1]),
            layers.NormalLeaf(
                num_components=2,
                use_accumulators=True,
                scale_trainable=True,
                location_initializer=keras.initializers.Constant([-1.0, 1.0]),
                scale_initializer=keras.initializers.Constant([0.8, 1.3]),
                accumulator_initializer=keras.initializers.Constant([1.0, 2.0]),
            ),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em", logspace_accumulators=False),
        ]
    )
    model(x[:1])
    root = model.layers[-1]
    root.accumulators.assign(np.reshape([0.3, 0.7], tuple(root.accumulators.shape)))
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.4, leaf_update=rule))
    model.fit(x, epochs=1, batch_size=6, shuffle=False, verbose=0)
    reference = mixture_steps(x[:, 0].astype(np.float64), rule)
    leaf = leaf_of(model)
    np.testing.assert_allclose(np.ravel(leaf.location_tensor()), reference["1_location"], rtol=1e-5)
    np.testing.assert_allclose(np.ravel(leaf.scale_tensor()), reference["1_scale"], rtol=1e-5)
    weights = np.ravel(root.accumulators.numpy())
    np.testing.assert_allclose(weights / weights.sum(), reference["2_weights"], rtol=1e-5)


def test_leaf_update_is_checked_and_serialized():
    optimizer = optimizers.OnlineExpectationMaximization(0.1, leaf_update="towards_estimate")
    assert optimizer.get_config()["leaf_update"] == "towards_estimate"
    assert optimizers.OnlineExpectationMaximization.from_config(optimizer.get_config()).leaf_update == (
        "towards_estimate"
    )
    assert optimizers.OnlineExpectationMaximization().leaf_update == "running_statistics"
    for bad in ("stepwise", 1, None):
        with pytest.raises(ValueError, match="leaf_update must be one of"):
            optimizers.OnlineExpectationMaximization(leaf_update=bad)


def test_variance_prior_stops_a_component_from_collapsing_onto_one_sample():
    x = np.array([[2.0]], np.float32)
    for pseudocount, expected in ((0.0, 1e-4**2), (0.1, 0.1 * 3.0 / 1.1)):
        model = gaussian_model()
        # Graph mode: the variance prior is applied under XLA (the default) in
        # test_variance_prior_matches_numpy_over_accumulated_batches.
        model.compile(
            optimizer=optimizers.OnlineExpectationMaximization(1.0, pseudocount=pseudocount, prior_variance=3.0),
            jit_compile=False,
        )
        model.fit(x, batch_size=1, epochs=1, verbose=0)
        # Without a prior the variance of one sample is 0 (the scale constraint's floor 1e-4 is all that is left).
        assert float(np.squeeze(leaf_of(model).scale_tensor())) ** 2 == pytest.approx(expected, rel=1e-4)


def test_hard_em_counts_move_each_sum_by_the_share_of_the_batch_that_reached_it():
    # 0.6.0's hard-EM ops hand the optimizer raw counts (shares of the batch), not per-sum normalized ones:
    # w_new = normalize((1 - eta) * w_old + eta * n / N), so a sum reached by a fraction f of the batch moves at
    # the rate eta * f / (1 - eta + eta * f). The counts come from the sum op (tested against brute force in
    # test_hard_em.py); the update is checked here.
    rng = np.random.default_rng(23)
    x = tiny_data(rng, size=40)
    acc = random_tiny_accumulators(rng)
    eta = 0.5
    model = tiny_model("hard_em")
    set_accumulators(model, acc)
    counts = sum_gradients(model, x)
    expected = []
    for old, n in zip(acc, counts):
        updated = (1 - eta) * normalize(old) + eta * n / len(x)
        expected.append(updated / updated.sum(axis=-2, keepdims=True))
    shares = counts[1].sum(axis=-2) / len(x)
    assert np.any((shares > 0) & (shares < 1)), "some middle sums should be reached by part of the batch only"
    # Graph mode: hard EM steps run under XLA (the default) in test_hard_em.py and in
    # test_a_sample_of_probability_zero_adds_nothing_to_the_step[hard_em].
    model.compile(optimizer=em_optimizer(eta), jit_compile=False)
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    for got, reference in zip(weights_of(model), expected):
        np.testing.assert_allclose(got, reference, atol=1e-5)


def test_soft_em_step_follows_a_learning_rate_schedule():
    # A decaying step (stochastic EM converges only with one): each step uses the schedule's value at that step.
    rng = np.random.default_rng(5)
    x = tiny_data(rng, size=40)
    first, second = x[:20], x[20:]
    acc = random_tiny_accumulators(rng)
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries=[0], values=[0.6, 0.2])
    model = tiny_model("em")
    set_accumulators(model, acc)
    model.compile(optimizer=em_optimizer(schedule))
    expected = [normalize(a) for a in acc]
    for batch, eta in ((first, 0.6), (second, 0.2)):
        w_em = em_estimate(expected, expected_counts(batch, expected))
        expected = [(1 - eta) * old + eta * em for old, em in zip(expected, w_em)]
        model.fit(batch, batch_size=len(batch), epochs=1, shuffle=False, verbose=0)
        for got, ref in zip(weights_of(model), expected):
            np.testing.assert_allclose(got, ref, atol=1e-5)


# --------------------------------------------------------------------------------------------------------------
# A sample of probability 0 in a batch (float32 underflow far out in a leaf's tail, or every child of a sum dropped
# by LogDropout) adds nothing; the other samples train as without it, and nothing non-finite is written.
# --------------------------------------------------------------------------------------------------------------


def two_variable_normal_model(sum_op, dropout=None):
    keras.utils.set_random_seed(3)
    stack = [
        keras.Input((2,)),
        layers.FlatToRegions(num_decomps=1),
        layers.NormalLeaf(num_components=2, use_accumulators=sum_op != "grad"),
        layers.DenseProduct(num_factors=2),
    ]
    stack += [layers.LogDropout(dropout)] if dropout else []
    stack.append(layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op))
    return models.SequentialSumProductNetwork(stack)


# Core: grad (the soft branch) and hard_em (the hard branch); em and unweighted_hard_em: the labelled test below.
@pytest.mark.parametrize(
    "sum_op",
    [
        pytest.param("em", marks=pytest.mark.slow),
        "hard_em",
        pytest.param("unweighted_hard_em", marks=pytest.mark.slow),
        "grad",
    ],
)
def test_a_sample_of_probability_zero_adds_nothing_to_the_step(sum_op):
    x = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    x[2, 1] = 1e20  # a valid value: (x - mu)^2 / sigma^2 overflows float32, so log p(x) = -inf
    trained = []
    for data in (x, np.delete(x, 2, axis=0)):
        model = two_variable_normal_model(sum_op)
        assert np.isneginf(model(data).numpy().ravel()).sum() == (len(data) == 6)
        em = sum_op != "grad"
        # The reference without the sample trains in graph mode (one XLA compile fewer; its weights match an
        # XLA-trained copy's to rounding): the batch under test, with it, trains under the default compile.
        model.compile(
            optimizer=optimizers.OnlineExpectationMaximization(0.5) if em else keras.optimizers.Adam(0.1),
            **({} if len(data) == 6 else {"jit_compile": False}),
        )
        loss = model.fit(data, batch_size=len(data), epochs=1, verbose=0, shuffle=False).history["loss"][0]
        assert np.isinf(loss) == (len(data) == 6)
        weights = [np.asarray(variable) for variable in model.weights]
        assert all(np.isfinite(w).all() for w in weights), sum_op
        assert np.isfinite(model(x[:2]).numpy()).all()
        trained.append(weights)
    (*_, root_with), (*_, root_without) = trained
    assert not np.allclose(root_without, two_variable_normal_model(sum_op).weights[-1].numpy())
    if sum_op in ("em", "grad"):  # soft EM normalizes each sum's counts; Adam's first step is scale-free
        np.testing.assert_allclose(root_with, root_without, atol=1e-5)
    else:  # hard EM moves a sum by the share of the batch that reached it: 5 of 6 samples here
        np.testing.assert_array_equal(root_with.argmax(axis=-2), root_without.argmax(axis=-2))


def test_sums_still_learn_when_log_dropout_drops_every_child_of_a_sample():
    # With 4 children and rate 0.5 a sample loses them all with probability 1/16: 16 samples, 20 steps.
    model = two_variable_normal_model("em", dropout=0.5)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.5))
    x = np.random.default_rng(1).normal(size=(16, 2)).astype(np.float32)
    root = model.layers[-1]
    steps = []  # (root weights before, root weights after, every weight finite after) per step

    class EachStep(keras.callbacks.Callback):  # one fit of 20 one-step epochs, not 20 fits
        def on_epoch_begin(self, epoch, logs=None):
            self.before = normalize(root.accumulators.numpy())

        def on_epoch_end(self, epoch, logs=None):
            finite = all(np.isfinite(np.asarray(variable)).all() for variable in model.weights)
            steps.append((self.before, normalize(root.accumulators.numpy()), finite))

    losses_seen = model.fit(x, batch_size=16, epochs=20, verbose=0, callbacks=[EachStep()]).history["loss"]
    assert len(steps) == len(losses_seen) == 20
    for (before, after, finite), loss in zip(steps, losses_seen):
        assert finite
        if np.isinf(loss):
            assert not np.allclose(after, before)
    assert np.isinf(losses_seen).sum() >= 3, losses_seen  # the case this test is about did occur


def test_log_likelihood_from_root_has_no_gradient_for_a_sample_of_probability_zero():
    from libspn_keras.losses.root_outputs import log_likelihood_from_root

    logits = tf.constant([[-1.0, -2.0, 0.5], [-np.inf, -np.inf, -np.inf], [-np.inf, -3.0, -np.inf]])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        values = log_likelihood_from_root(logits)
    gradient = tape.gradient(values, logits).numpy()
    np.testing.assert_allclose(values.numpy(), np_logsumexp(logits.numpy(), axis=-1), rtol=1e-6)
    np.testing.assert_allclose(gradient[0], np.exp(logits[0] - np_logsumexp(logits.numpy()[0])), rtol=1e-6)
    np.testing.assert_array_equal(gradient[1:], [[0, 0, 0], [0, 1, 0]])


def test_log_joint_from_root_has_no_gradient_for_a_sample_of_probability_zero_under_its_class():
    from libspn_keras.losses.root_outputs import log_joint_from_root

    logits = tf.constant([[-1.0, -2.0, 0.5], [-np.inf, -np.inf, -np.inf], [-np.inf, -3.0, -np.inf]])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        values = log_joint_from_root(tf.constant([2, 1, 0]), logits)
    np.testing.assert_array_equal(values.numpy(), [0.5, -np.inf, -np.inf])
    np.testing.assert_array_equal(tape.gradient(values, logits).numpy(), [[0, 0, 1], [0, 0, 0], [0, 0, 0]])


def class_roots_over_uniform_images(sum_op, **compile_kwargs):
    """Binary 2x2 images, one depthwise 2x2 product (channel c: every pixel is c), two sums, two class roots: an
    image of mixed pixels has probability 0 under both classes."""
    keras.utils.set_random_seed(0)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((2, 2, 1), dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            layers.Conv2DProduct(depthwise=True, kernel_size=(2, 2), strides=(2, 2), dilations=(1, 1), padding="valid"),
            layers.SpatialToRegions(),
            layers.DenseSum(num_sums=2, sum_op=sum_op),
            layers.RootSum(return_weighted_child_logits=True, sum_op=sum_op),
        ],
        unsupervised=False,
    )
    model.layers[-2].accumulators.assign(np.array([[[[0.9, 0.2], [0.1, 0.8]]]], np.float32))
    model.layers[-1].accumulators.assign(np.array([[0.3], [0.7]], np.float32))
    model.compile(
        optimizer=optimizers.OnlineExpectationMaximization(1.0), loss=losses.NegativeLogJoint(), **compile_kwargs
    )
    return model


# Core: em and unweighted_hard_em; hard_em's sample of probability 0: the test above.
@pytest.mark.parametrize("sum_op", ["em", pytest.param("hard_em", marks=pytest.mark.slow), "unweighted_hard_em"])
def test_a_labelled_sample_of_probability_zero_adds_no_em_counts(sum_op):
    # NegativeLogJoint picks each sample's class logit; a logit of -inf passed a gradient of 1, which EM read as a
    # count for its class root (and hard EM routed below it to arbitrary children). EM with rate 1 on the batch
    # with the impossible image must give the weights of the batch without it.
    x = np.zeros((5, 2, 2, 1), np.int32)
    x[3:] = 1
    x[4, 0, 0, 0] = 0  # mixed pixels
    y = np.array([0, 0, 1, 1, 1])
    trained = []
    for data, labels in ((x, y), (x[:4], y[:4])):
        # The reference without the impossible image trains in graph mode (one XLA compile fewer; its weights match
        # an XLA-trained copy's to rounding): the batch under test, with it, trains under the default compile.
        model = class_roots_over_uniform_images(sum_op, **({} if len(data) == 5 else {"jit_compile": False}))
        assert np.isneginf(model(data).numpy()[np.arange(len(data)), labels]).sum() == (len(data) == 5)
        model.fit(data, labels, batch_size=len(data), epochs=1, shuffle=False, verbose=0)
        trained.append([normalize(layer.accumulators.numpy()) for layer in model.layers[-2:]])
    untrained = class_roots_over_uniform_images(sum_op)
    assert not np.allclose(trained[1][1], normalize(untrained.layers[-1].accumulators.numpy()))
    for with_impossible, without in zip(*trained):
        np.testing.assert_allclose(with_impossible, without, atol=1e-6)


@pytest.mark.parametrize("reuse_optimizer", [False, True])
def test_swapping_a_built_layers_sum_op_changes_its_em_update(reuse_optimizer):
    from libspn_keras import SumOpEMBackprop

    # Hard EM, then soft EM on the same layer: the second step must be a soft-EM step (counts normalized per sum)
    # also when the layer was built with hard EM and when the optimizer was built during the hard-EM step.
    rng = np.random.default_rng(0)
    x = np.log(rng.uniform(0.05, 1, size=(6, 2, 1, 3))).astype(np.float32)
    w0 = rng.dirichlet(np.ones(3), size=(2, 1, 2)).swapaxes(-1, -2).astype(np.float32)
    layer = layers.DenseSum(num_sums=2, sum_op="hard_em", accumulator_initializer=keras.initializers.Constant(w0))
    layer(x)

    def step(optimizer):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(tf.reduce_sum(tf.reduce_logsumexp(layer(x), -1), [1, 2]))
        optimizer.apply_gradients([(tape.gradient(loss, layer.accumulators), layer.accumulators)])

    optimizer = optimizers.OnlineExpectationMaximization(learning_rate=0.4)
    step(optimizer)
    before = normalize(layer.accumulators.numpy())
    layer.sum_op = SumOpEMBackprop()
    step(optimizer if reuse_optimizer else optimizers.OnlineExpectationMaximization(learning_rate=0.4))
    log_children = x[..., :, None] + np.log(before)[None]  # [batch, scopes, decomps, children, sums]
    log_sums = np_logsumexp(log_children, axis=3)  # [batch, scopes, decomps, sums]
    upstream = np.exp(log_sums - np.expand_dims(np_logsumexp(log_sums, axis=-1), -1))  # the loss's signal per sum
    counts = (np.expand_dims(upstream, 3) * np.exp(log_children - np.expand_dims(log_sums, 3))).sum(axis=0)
    expected = 0.6 * before + 0.4 * counts / counts.sum(axis=-2, keepdims=True)
    np.testing.assert_allclose(normalize(layer.accumulators.numpy()), expected, atol=1e-5)


@pytest.mark.parametrize("offset", [pytest.param(1e8, marks=pytest.mark.slow), 1e9])
def test_leaf_moments_of_data_far_from_zero_keep_their_digits(offset):
    # The statistics held n * (variance + mean^2), from which the variance came back as the difference of two
    # numbers near mean^2: from 1e8 on few or no digits were left, in float64, and a fixed scale of 1 moved to
    # 1e-4, 1.41 or 11585.
    rng = np.random.default_rng(26)
    x = (offset + rng.normal(scale=1000.0, size=(64, 1))).astype(np.float32)
    values = x[:, 0].astype(np.float64)
    model = gaussian_model()
    model(x[:1])
    leaf = leaf_of(model)
    set_leaf_statistics(leaf, [offset], [1.0])
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(1.0))
    model.fit(x, batch_size=64, epochs=1, shuffle=False, verbose=0)
    # One full step from a running count of 1: the batch's own mean and (population) variance.
    count, total, spread = np.squeeze(leaf.statistics.numpy())  # float64, as stored
    assert total / count == pytest.approx(values.mean(), rel=1e-12)
    assert spread / count == pytest.approx(values.var(), rel=1e-6)
    assert float(np.squeeze(leaf.scale_tensor())) ** 2 == pytest.approx(values.var(), rel=1e-5)

    fixed = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1]),
            layers.NormalLeaf(num_components=1, use_accumulators=True, scale_trainable=False),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    fixed(x[:1])
    set_leaf_statistics(leaf_of(fixed), [offset], [1.0])
    fixed.compile(optimizer=optimizers.OnlineExpectationMaximization(1.0))
    fixed.fit(x, batch_size=64, epochs=3, shuffle=False, verbose=0)
    assert float(np.squeeze(leaf_of(fixed).scale_tensor())) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("jit_compile", [pytest.param(False, marks=pytest.mark.slow), True])  # True: as "auto"
def test_soft_em_fit_with_a_smaller_last_batch_equals_steps_of_known_shapes(jit_compile):
    # A product over single children feeding a sum: retraced for the smaller last batch (an unknown batch size),
    # the fused pair's weight gradient lost its static children axis and the EM update raised a TypeError.
    def model(jit_compile):
        keras.utils.set_random_seed(3)
        spn = models.build_rat_spn(
            2, depth=1, num_decomps=1, num_input_distributions=1, num_sums=1,
            leaf=layers.CauchyLeaf(num_components=2), sum_op="em", logspace_accumulators=False,
        )  # fmt: skip
        spn.compile(optimizer=optimizers.OnlineExpectationMaximization(0.1), jit_compile=jit_compile)
        return spn

    x = np.random.default_rng(3).normal(size=(12, 2)).astype("float32")
    # The reference steps run in graph mode (one XLA compile fewer; they retrace for the smaller batch as fit does,
    # and match XLA-compiled steps to rounding): the fit under test runs under the parametrized compile.
    fitted, stepped = model(jit_compile), model(False)
    fitted.fit(x, batch_size=8, shuffle=False, verbose=0)
    stepped.train_on_batch(x[:8])
    stepped.train_on_batch(x[8:])
    for after_fit, after_steps in zip(fitted.get_weights(), stepped.get_weights()):
        np.testing.assert_allclose(after_fit, after_steps, rtol=1e-6)


def laplace_log_pdf(x, location, scale):
    return -np.log(2 * scale) - np.abs(x - location) / scale


def cauchy_log_pdf(x, location, scale):
    return -np.log(np.pi * scale) - np.log1p(((x - location) / scale) ** 2)


@pytest.mark.parametrize("kind", ["laplace", "cauchy"])
def test_laplace_and_cauchy_em_steps_match_the_moment_matching_of_hand_computed_responsibilities(kind):
    # LocationScaleLeafBase: the M-step is moment matching, location = weighted mean and, for a Laplace leaf,
    # scale = sqrt(weighted variance / 2); a Cauchy leaf has no variance, so its scale stays fixed.
    rng = np.random.default_rng(21)
    x = np.concatenate([rng.laplace(-1.0, 0.5, size=150), rng.laplace(2.0, 1.0, size=250)]).astype(np.float32)
    x = x[:, None]
    if kind == "laplace":
        leaf = layers.LaplaceLeaf(num_components=2, use_accumulators=True, scale_trainable=True)
        log_pdf, scales = laplace_log_pdf, np.array([0.9, 0.55])
    else:
        leaf = layers.CauchyLeaf(num_components=2, use_accumulators=True)
        log_pdf, scales = cauchy_log_pdf, np.array([0.8, 0.8])
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1]),
            leaf,
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    model(x[:1])
    locations, weights = np.array([-0.3, 0.8]), np.array([0.35, 0.65])
    set_leaf_statistics(leaf, locations, np.ravel(leaf.variance_from_scale(scales).numpy()))
    model.layers[-1].accumulators.assign((weights * 2.0)[:, None].astype(np.float32))
    np.testing.assert_allclose(np.ravel(leaf.scale_tensor()), scales, rtol=1e-6)

    data = x[:, 0].astype(np.float64)
    log_joint = np.log(weights) + log_pdf(data[:, None], locations, scales)
    np.testing.assert_allclose(model(x).numpy()[:, 0], np_logsumexp(log_joint, axis=1), atol=1e-4)
    resp, new_locations, new_variances = responsibility_weighted_moments(data, log_joint)

    model.compile(optimizer=em_optimizer(1.0))
    model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(np.ravel(leaf.location_tensor()), new_locations, atol=1e-4)
    expected_scales = np.sqrt(new_variances / 2.0) if kind == "laplace" else scales
    np.testing.assert_allclose(np.ravel(leaf.scale_tensor()), expected_scales, rtol=1e-4)
    np.testing.assert_allclose(normalize(model.layers[-1].accumulators.numpy())[:, 0], resp.mean(axis=0), atol=1e-5)


def test_a_cauchy_leaf_refuses_an_em_scale():
    with pytest.raises(ValueError, match="CauchyLeaf .*scale_trainable=False"):
        layers.CauchyLeaf(num_components=2, use_accumulators=True, scale_trainable=True)
