"""Region (RAT-SPN) layers: normalization by enumeration, max-product values, and each layer against numpy.

Discrete RAT-SPNs (FlatToRegions -> IndicatorLeaf -> DenseSum ->
PermuteAndPadScopesRandom -> ReduceProduct -> [DenseProduct -> DenseSum] x depth
-> RootSum) are evaluated on all ``2**n`` binary inputs; for sum ops whose
forward pass is the exact sum (every op, hard EM included) the probabilities
must add up to 1. Max-product (Viterbi) values, which the MPE query computes,
are checked against a brute-force maximum over the induced trees of a tiny
model, computed by hand in numpy, and against an independent numpy
max-product pass over a RAT-SPN.
"""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, normalized_weights, np_logsumexp, randomize_accumulators
from tensorflow import keras

from libspn_keras import layers, models
from libspn_keras.models.queries import sum_ops_replaced
from libspn_keras.sum_ops.max_product import SumOpMaxProduct

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


def rat_spn(num_vars, depth, num_decomps, sum_op, logspace=None, num_input_sums=2, num_sums=2):
    """The RAT-SPN of the brief; the top DenseSum has a single sum per decomposition."""
    s = dict(sum_op=sum_op, logspace_accumulators=logspace)
    stack = [
        layers.FlatToRegions(num_decomps=num_decomps, input_shape=[num_vars], dtype="int32"),
        layers.IndicatorLeaf(num_components=2),
        layers.DenseSum(num_sums=num_input_sums, **s),
        layers.PermuteAndPadScopesRandom(),
        layers.ReduceProduct(num_factors=math.ceil(num_vars / 2**depth)),
    ]
    for level in range(depth):
        top = level == depth - 1
        stack += [layers.DenseProduct(num_factors=2), layers.DenseSum(num_sums=1 if top else num_sums, **s)]
    stack.append(layers.RootSum(return_weighted_child_logits=False, **s))
    return models.SequentialSumProductNetwork(stack)


def numpy_forward(model, x, use_max):
    """Independent numpy pass over a region SPN built from the layers used here (sum-product or max-product)."""
    h = None
    for layer in model.layers:
        if isinstance(layer, layers.FlatToRegions):
            h = np.repeat(np.asarray(x)[:, :, None], layer.num_decomps, axis=2)[..., None]  # [B, V, R, 1]
        elif isinstance(layer, layers.IndicatorLeaf):
            cats = np.arange(layer.num_components)
            with np.errstate(divide="ignore"):
                h = np.log((h == cats).astype(np.float64))  # [B, V, R, K]
        elif isinstance(layer, layers.PermuteAndPadScopesRandom):
            perm = layer.permutations.numpy()  # [R, scopes_out]; index == num_scopes means padding
            padded = np.concatenate([h, np.zeros_like(h[:, :1])], axis=1)
            h = np.stack([padded[:, perm[r], r] for r in range(perm.shape[0])], axis=2)
        elif isinstance(layer, layers.ReduceProduct):
            b, s, r, n = h.shape
            h = h.reshape(b, s // layer.num_factors, layer.num_factors, r, n).sum(axis=2)
        elif isinstance(layer, layers.DenseProduct):
            assert layer.num_factors == 2
            b, s, r, n = h.shape
            left, right = h[:, 0::2], h[:, 1::2]
            h = (left[..., :, None] + right[..., None, :]).reshape(b, s // 2, r, n * n)
        elif isinstance(layer, (layers.DenseSum, layers.RootSum)):
            w = normalized_weights(layer)
            if isinstance(layer, layers.RootSum):
                h = h.reshape(h.shape[0], -1)
            with np.errstate(divide="ignore"):
                weighted = h[..., :, None] + np.log(w)  # [B, ..., children, sums]
            h = weighted.max(axis=-2) if use_max else np_logsumexp(weighted, axis=-2)
        else:
            raise AssertionError(f"unexpected layer {layer}")
    return h


# (num_vars, depth, num_decomps): padding occurs whenever num_vars is not ceil(num_vars / 2**depth) * 2**depth.
STRUCTURES = [(3, 1, 1), (4, 2, 3), (5, 2, 1), (5, 3, 3), (7, 2, 3), (7, 3, 1), (4, 1, 3)]
EXACT_OPS = [("grad", True), ("em", False), ("sample", False)]


@pytest.mark.parametrize("sum_op,logspace", EXACT_OPS, ids=[o for o, _ in EXACT_OPS])
@pytest.mark.parametrize("num_vars,depth,num_decomps", STRUCTURES, ids=[f"v{v}-d{d}-r{r}" for v, d, r in STRUCTURES])
def test_rat_spn_sums_to_one(num_vars, depth, num_decomps, sum_op, logspace):
    keras.utils.set_random_seed(100 * num_vars + 10 * depth + num_decomps)
    model = rat_spn(num_vars, depth, num_decomps, sum_op, logspace)
    perm_layer = next(layer for layer in model.layers if isinstance(layer, layers.PermuteAndPadScopesRandom))
    factor = math.ceil(num_vars / 2**depth)
    assert perm_layer.factors == [factor] + [2] * depth
    x = all_binary(num_vars)
    rng = np.random.default_rng(num_vars * 31 + depth * 7 + num_decomps)
    model(x[:1])
    randomize_accumulators(model, rng, logspace)
    log_p = model(x).numpy().astype(np.float64)
    assert log_p.shape == (2**num_vars, 1)
    assert np.all(np.isfinite(log_p))
    total = np_logsumexp(log_p)
    assert abs(total) < 1e-5, f"sum over all inputs is exp({total})"
    # Non-vacuous: far from uniform, and agrees with an independent numpy pass.
    assert np.ptp(log_p) > 0.5
    np.testing.assert_allclose(log_p, numpy_forward(model, x, use_max=False), atol=1e-4)
    padded = perm_layer.permutations.numpy()
    assert padded.shape == (num_decomps, factor * 2**depth)
    for row in padded:
        assert sorted(row[row >= 0].tolist()) == list(range(num_vars))
        assert np.all(row[row < 0] == -1)  # padding scopes, as 0.6.0 stores them


def tiny_viterbi_reference(x, w_leaf, w_root):
    """Brute force over the induced trees of Indicator -> DenseSum(2) -> DenseProduct(2) -> RootSum, 2 variables.

    ``w_leaf[v, c, i]``: weight of indicator ``c`` in leaf sum ``i`` of variable ``v``;
    ``w_root[i * 2 + j]``: weight of the product of leaf sum ``i`` (var 0) and ``j`` (var 1).
    A tree picks a root child ``(i, j)`` and one indicator ``c_v`` under each leaf sum.
    """
    best = np.full(len(x), -np.inf)
    total = np.zeros(len(x))
    for i, j, c0, c1 in itertools.product(range(2), repeat=4):
        value = w_root[i * 2 + j] * w_leaf[0, c0, i] * w_leaf[1, c1, j]
        indicator = (x[:, 0] == c0) & (x[:, 1] == c1)
        tree = np.where(indicator, value, 0.0)
        with np.errstate(divide="ignore"):
            best = np.maximum(best, np.log(tree))
        total += tree
    return best, np.log(total)


def max_product(model, x):
    """``model`` evaluated with max-product sums (the MPE query's op)."""
    with sum_ops_replaced(model.layers, SumOpMaxProduct()):
        return model(x)


@pytest.mark.parametrize("sum_op", ["hard_em", "unweighted_hard_em"])
def test_hard_em_forward_is_exact_and_max_product_is_brute_force_viterbi(sum_op):
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[2], dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2, sum_op=sum_op),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op),
        ]
    )
    x = all_binary(2)
    model(x)
    leaf_sum, root = model.layers[2], model.layers[4]
    assert tuple(leaf_sum.accumulators.shape) == (2, 1, 2, 2)
    assert tuple(root.accumulators.shape) == (4, 1)
    rng = np.random.default_rng(7)
    # Unnormalized accumulators on purpose: the layer must normalize them.
    leaf_acc = rng.uniform(0.2, 3.0, size=(2, 1, 2, 2))
    root_acc = rng.uniform(0.2, 3.0, size=(4, 1))
    leaf_sum.accumulators.assign(leaf_acc.astype(np.float32))
    root.accumulators.assign(root_acc.astype(np.float32))
    w_leaf = (leaf_acc / leaf_acc.sum(axis=-2, keepdims=True))[:, 0]
    w_root = (root_acc / root_acc.sum(axis=0, keepdims=True))[:, 0]

    viterbi, exact = tiny_viterbi_reference(x, w_leaf, w_root)
    np.testing.assert_allclose(model(x).numpy()[:, 0], exact, rtol=1e-5, atol=1e-5)
    out = max_product(model, x).numpy()[:, 0]
    np.testing.assert_allclose(out, viterbi, rtol=1e-5, atol=1e-5)
    assert np.any(out < exact - 1e-3), "max-product must differ from the exact sum somewhere"
    assert abs(np_logsumexp(exact)) < 1e-6  # the reference itself is normalized


@pytest.mark.parametrize("sum_op", ["hard_em", "unweighted_hard_em"])
def test_hard_em_forward_is_numpy_exact_and_max_product_numpy_viterbi_on_rat_spn(sum_op):
    keras.utils.set_random_seed(11)
    model = rat_spn(5, 2, 2, sum_op)
    x = all_binary(5)
    model(x[:1])
    randomize_accumulators(model, np.random.default_rng(12), logspace=False)
    exact = numpy_forward(model, x, use_max=False)
    np.testing.assert_allclose(model(x).numpy().astype(np.float64), exact, rtol=1e-5, atol=1e-5)
    out = max_product(model, x).numpy().astype(np.float64)
    np.testing.assert_allclose(out, numpy_forward(model, x, use_max=True), rtol=1e-5, atol=1e-5)
    assert np.all(out <= exact + 1e-5)
    assert np.any(out < exact - 1e-3)
    assert np_logsumexp(out) < 0.0  # Viterbi values sum to less than 1


def test_dense_product_is_numpy_outer_sum():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 2, 3)).astype(np.float32)
    out = layers.DenseProduct(num_factors=2)(x).numpy()
    assert out.shape == (3, 2, 2, 9)
    for b, s, r, i, j in itertools.product(range(3), range(2), range(2), range(3), range(3)):
        assert out[b, s, r, i * 3 + j] == pytest.approx(x[b, 2 * s, r, i] + x[b, 2 * s + 1, r, j], abs=1e-6)

    x3 = rng.normal(size=(2, 6, 1, 2)).astype(np.float32)
    out3 = layers.DenseProduct(num_factors=3)(x3).numpy()
    assert out3.shape == (2, 2, 1, 8)
    expected = (x3[:, 0::3, :, :, None, None] + x3[:, 1::3, :, None, :, None] + x3[:, 2::3, :, None, None, :]).reshape(
        2, 2, 1, 8
    )
    np.testing.assert_allclose(out3, expected, atol=1e-6)


def test_reduce_product_is_numpy_sum():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 6, 2, 4)).astype(np.float32)
    for factors in (2, 3, 6):
        out = layers.ReduceProduct(num_factors=factors)(x).numpy()
        expected = np.stack([x[:, g * factors : (g + 1) * factors].sum(axis=1) for g in range(6 // factors)], axis=1)
        np.testing.assert_allclose(out, expected, atol=1e-5)


def test_permute_and_pad_scopes_is_numpy_gather_with_zero_padding():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 2, 4)).astype(np.float32)
    permutations = [[2, -1, 0, 1], [-1, 1, 0, 2]]
    layer = layers.PermuteAndPadScopes(permutations)
    out = layer(x).numpy()
    assert out.shape == (2, 4, 2, 4)
    assert layer.compute_output_shape((None, 3, 2, 4)) == (None, 4, 2, 4)
    for r, row in enumerate(permutations):
        for j, scope in enumerate(row):
            expected = np.zeros((2, 4)) if scope < 0 else x[:, scope, r]
            np.testing.assert_array_equal(out[:, j, r], expected)
    # Padding is a marginalized scope also when children are -inf elsewhere.
    x_inf = np.full((1, 3, 2, 4), -np.inf, dtype=np.float32)
    out_inf = layer(x_inf).numpy()
    assert out_inf[0, 1, 0].tolist() == [0.0] * 4 and out_inf[0, 0, 1].tolist() == [0.0] * 4
    assert np.all(np.isneginf(out_inf[0, [0, 2, 3], 0]))
    # A pure permutation without padding.
    out_perm = layers.PermuteAndPadScopes([[1, 2, 0], [0, 1, 2]])(x).numpy()
    np.testing.assert_array_equal(out_perm[:, :, 0], x[:, [1, 2, 0], 0])
    np.testing.assert_array_equal(out_perm[:, :, 1], x[:, :, 1])


def test_undecompose_shape_and_values():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 1, 4, 3)).astype(np.float32)
    out = layers.Undecompose()(x).numpy()
    assert out.shape == (2, 1, 1, 12)
    for r, n in itertools.product(range(4), range(3)):
        np.testing.assert_array_equal(out[:, 0, 0, r * 3 + n], x[:, 0, r, n])
    layer = layers.Undecompose(num_decomps=2)
    out2 = layer(x).numpy()
    assert out2.shape == (2, 1, 2, 6)
    assert layer.compute_output_shape((None, 1, 4, 3)) == (None, 1, 2, 6)
    for g, k, n in itertools.product(range(2), range(2), range(3)):
        np.testing.assert_array_equal(out2[:, 0, g, k * 3 + n], x[:, 0, g * 2 + k, n])
    np.testing.assert_array_equal(layers.Undecompose(num_decomps=1)(x).numpy(), out)


def test_undecompose_num_decomps_counts_the_output_decompositions():
    # As in 0.6.0: num_decomps=k makes k decompositions, each joining decomps / k neighbours.
    x = np.random.default_rng(4).normal(size=(2, 1, 8, 3)).astype(np.float32)
    for num_decomps in (1, 2, 4, 8):
        layer = layers.Undecompose(num_decomps=num_decomps)
        out = layer(x).numpy()
        group = 8 // num_decomps
        assert out.shape == (2, 1, num_decomps, group * 3)
        assert layer.compute_output_shape((None, 1, 8, 3)) == (None, 1, num_decomps, group * 3)
        for g, k, n in itertools.product(range(num_decomps), range(group), range(3)):
            np.testing.assert_array_equal(out[:, 0, g, k * 3 + n], x[:, 0, g * group + k, n])


def test_undecompose_then_root_is_normalized_mixture_of_decompositions():
    keras.utils.set_random_seed(5)
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=3, input_shape=[4], dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2, sum_op="em"),
            layers.PermuteAndPadScopesRandom(),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=2, sum_op="em"),
            layers.DenseProduct(num_factors=2),
            layers.Undecompose(),
            layers.DenseSum(num_sums=2, sum_op="em"),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    x = all_binary(4)
    model(x[:1])
    assert model.layers[7].output.shape[1:] == (1, 1, 3 * 4)
    randomize_accumulators(model, np.random.default_rng(6), logspace=False)
    log_p = model(x).numpy()
    assert abs(np_logsumexp(log_p)) < 1e-5
    assert np.ptp(log_p) > 0.5


def _random_permutations(num_scopes, num_decomps, factors, seed=None):
    layer = layers.PermuteAndPadScopesRandom(factors=factors, seed=seed)
    layer.build((None, num_scopes, num_decomps, 2))
    return layer.permutations.numpy()


def test_permute_and_pad_scopes_random_reproducible_and_distinct_per_decomposition():
    keras.utils.set_random_seed(123)
    first = _random_permutations(6, 5, [2, 2, 2])
    keras.utils.set_random_seed(123)
    second = _random_permutations(6, 5, [2, 2, 2])
    np.testing.assert_array_equal(first, second)
    keras.utils.set_random_seed(124)
    other_seed = _random_permutations(6, 5, [2, 2, 2])
    assert not np.array_equal(first, other_seed)

    assert first.shape == (5, 8)
    for row in first:
        assert sorted(row.tolist()) == [-1, -1, 0, 1, 2, 3, 4, 5]  # -1 = padding scope, as in 0.6.0
        # 0.6.0 inserts the 2 paddings of 8 slots at positions 0 and 4 (every 8 // 2 slots).
        assert row[0] == -1 and row[4] == -1
    assert len({tuple(row) for row in first}) > 1, "decompositions must be permuted differently"

    # An explicit seed is reproducible whatever the global state.
    keras.utils.set_random_seed(1)
    a = _random_permutations(6, 5, [8], seed=9)
    keras.utils.set_random_seed(2)
    b = _random_permutations(6, 5, [8], seed=9)
    np.testing.assert_array_equal(a, b)

    # Same seed => same model outputs.
    x = all_binary(5)
    outs = []
    for _ in range(2):
        keras.utils.set_random_seed(77)
        model = rat_spn(5, 2, 3, "em")
        outs.append(model(x).numpy())
    np.testing.assert_array_equal(outs[0], outs[1])


def test_permute_and_pad_scopes_random_output_matches_its_permutations():
    keras.utils.set_random_seed(4)
    layer = layers.PermuteAndPadScopesRandom(factors=[3, 2])
    x = np.random.default_rng(4).normal(size=(2, 5, 3, 2)).astype(np.float32)
    out = layer(x).numpy()
    perm = layer.permutations.numpy()
    assert out.shape == (2, 6, 3, 2)
    for r in range(3):
        for j in range(6):
            expected = np.zeros((2, 2)) if perm[r, j] == -1 else x[:, perm[r, j], r]
            np.testing.assert_array_equal(out[:, j, r], expected)
    tf.debugging.assert_equal(tf.shape(out), [2, 6, 3, 2])
