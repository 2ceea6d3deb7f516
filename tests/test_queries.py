"""Queries (marginals, completion, MPE, sampling) against independent references.

The references never use the query code under test: marginals are
log-sum-exps of the model's joint over enumerated assignments (discrete) or
trapezoid integrals of its joint density (continuous); sampling is compared
with the exact distribution by total-variation distance or with integrated
moments; MPE is compared with a numpy enumeration of every induced tree
(one child per sum node) and every value of the missing variables.
"""

import itertools

import numpy as np
import pytest
from reference import all_binary, normalized_weights, np_logsumexp, randomize_accumulators, sum_layers
from tensorflow import keras

import libspn_keras as spn
from libspn_keras import layers, models
from libspn_keras.models.queries import sum_ops_replaced
from libspn_keras.sum_ops.max_product import SumOpMaxProduct

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")

RegionNode = spn.RegionNode
V = spn.RegionVariable


def total_variation(p, q):
    return 0.5 * np.abs(np.asarray(p, np.float64) - np.asarray(q, np.float64)).sum()


def empirical(flat_samples):
    """Frequencies of the ``2**n`` assignments among binary samples ``[num, n]``."""
    flat_samples = np.asarray(flat_samples).astype(np.int64)
    index = (flat_samples << np.arange(flat_samples.shape[1])).sum(axis=1)
    return np.bincount(index, minlength=2 ** flat_samples.shape[1]) / len(flat_samples)


def leaf_of(model):
    return next(layer for layer in model.layers if isinstance(layer, layers.LeafBase))


def chain(kind, input_shape, dtype, body):
    """A chain-shaped SPN as ``SequentialSumProductNetwork`` or functional ``SumProductNetwork``."""
    if kind == "sequential":
        return models.SequentialSumProductNetwork([keras.Input(input_shape, dtype=dtype)] + body)
    inputs = keras.Input(input_shape, dtype=dtype)
    h = inputs
    for layer in body:
        h = layer(h)
    return models.SumProductNetwork(inputs, h)


def prod(kernel=2, stride=2, dilation=1, padding="valid", **kwargs):
    return layers.Conv2DProduct(kernel_size=kernel, strides=stride, dilations=dilation, padding=padding, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# Discrete models: (model, input shape); every one has random weights.


def build_rat(seed):
    keras.utils.set_random_seed(seed)
    model = models.build_rat_spn(num_vars=4, depth=2, num_decomps=2, num_input_distributions=3, num_sums=3)
    randomize_accumulators(model, np.random.default_rng(seed))
    return model, (4,)


def build_region_graph(seed):
    keras.utils.set_random_seed(seed)
    roots = [
        RegionNode([RegionNode([V(0), V(2)]), RegionNode([V(1), V(3)])]),
        RegionNode([RegionNode([V(3), V(0), V(1)]), V(2)]),  # uneven: padded scopes
    ]
    model = spn.region_graph_to_dense_spn(roots, layers.IndicatorLeaf(num_components=2), [3, 2])
    randomize_accumulators(model, np.random.default_rng(seed))
    return model, (4,)


def build_spatial_2x2(seed):
    keras.utils.set_random_seed(seed)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((2, 2, 1), dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            layers.Local2DSum(num_sums=2),
            prod(stride=1, padding="full", num_channels=4, seed=1),  # 2 -> 3
            layers.Conv2DSum(num_sums=2),
            prod(stride=1, dilation=2, padding="final"),  # 3 -> 2, every cell covers the image
            layers.SpatialToRegions(),
            layers.DenseSum(num_sums=2),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    randomize_accumulators(model, np.random.default_rng(seed))
    return model, (2, 2, 1)


def build_spatial_4x2(seed):
    keras.utils.set_random_seed(seed)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((4, 2, 1)),  # float categories
            layers.IndicatorLeaf(num_components=2),
            layers.Local2DSum(num_sums=2),
            prod(depthwise=True),  # 4x2 -> 2x1
            layers.Local2DSum(num_sums=2),
            prod(stride=1, padding="full"),  # 2x1 -> 3x2
            layers.Conv2DSum(num_sums=2),
            prod(stride=1, dilation=2, padding="final"),  # 3x2 -> 2x2
            layers.SpatialToRegions(),
            layers.DenseSum(num_sums=2),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    randomize_accumulators(model, np.random.default_rng(seed))
    return model, (4, 2, 1)


def build_functional_chain(seed):
    keras.utils.set_random_seed(seed)
    body = [
        layers.FlatToRegions(num_decomps=2),
        layers.IndicatorLeaf(num_components=2),
        layers.DenseSum(num_sums=3),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=2),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=1),
        layers.RootSum(return_weighted_child_logits=False),
    ]
    model = chain("functional", (4,), "int32", body)
    assert isinstance(model, models.SumProductNetwork)
    randomize_accumulators(model, np.random.default_rng(seed))
    return model, (4,)


def build_functional_branches(seed):
    # No chain: two sum layers side by side over the leaf, one product layer called on each of them, the two
    # products concatenated on the node axis (every node of a scope over the same variables).
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,), dtype="int32")
    leaf = layers.IndicatorLeaf(num_components=2)(layers.FlatToRegions(num_decomps=1)(inputs))
    product = layers.DenseProduct(num_factors=2)
    branches = [product(layers.DenseSum(num_sums=2)(leaf)), product(layers.DenseSum(num_sums=2)(leaf))]
    top = layers.DenseProduct(num_factors=2)(layers.DenseSum(num_sums=3)(keras.layers.Concatenate()(branches)))
    model = models.SumProductNetwork(inputs, layers.RootSum(return_weighted_child_logits=False)(top))
    randomize_accumulators(model, np.random.default_rng(seed))
    return model, (4,)


DISCRETE_BUILDERS = {
    "rat_spn": build_rat,
    "region_graph": build_region_graph,
    "spatial_2x2": build_spatial_2x2,
    "spatial_4x2": build_spatial_4x2,
    "functional_chain": build_functional_chain,
    "functional_branches": build_functional_branches,
}


def joint_table(model, shape):
    """``log p`` of all binary assignments (rows of ``all_binary``), float64; checks normalization."""
    num_vars = int(np.prod(shape))
    table = all_binary(num_vars)
    dtype = model.inputs[0].dtype
    log_p = model.log_likelihood(table.reshape(-1, *shape).astype(dtype)).astype(np.float64)
    assert log_p.shape == (2**num_vars,)
    assert abs(np_logsumexp(log_p)) < 1e-4
    return table, log_p


def exact_marginals(table, log_p, patterns):
    """``log p(evidence)`` for patterns ``[m, n]`` with -1 = missing, by summing the joint."""
    match = np.all((patterns[:, None, :] < 0) | (patterns[:, None, :] == table[None]), axis=-1)
    return np_logsumexp(np.where(match, log_p[None], -np.inf), axis=1)


# functional_chain: slow extra; the core checks its marginals against the enumerated joint and its samples by TV in
# test_queries_on_model_loaded_from_keras_file, and the functional family in every test here by functional_branches.
@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=pytest.mark.slow) if name == "functional_chain" else name
        for name in sorted(DISCRETE_BUILDERS)
    ],
)
def discrete(request):
    model, shape = DISCRETE_BUILDERS[request.param](seed=sorted(DISCRETE_BUILDERS).index(request.param) + 10)
    table, log_p = joint_table(model, shape)
    return request.param, model, shape, table, log_p


def test_discrete_marginals_equal_enumerated_sums(discrete):
    name, model, shape, table, log_p = discrete
    num_vars = table.shape[1]
    rng = np.random.default_rng(1)
    if num_vars <= 4:
        patterns = np.array(list(itertools.product([-1, 0, 1], repeat=num_vars)))
    else:
        patterns = rng.integers(-1, 2, size=(200, num_vars))
        patterns[0] = -1
    expected = exact_marginals(table, log_p, patterns)
    # The distribution must not be near-uniform, or a wrong marginal could pass.
    assert np.ptp(log_p) > 1.0
    dtype = model.inputs[0].dtype

    with_negatives = model.log_likelihood(patterns.reshape(-1, *shape).astype(dtype))
    np.testing.assert_allclose(with_negatives, expected, atol=1e-4, err_msg=f"{name}: -1 entries")

    # Same evidence through evidence_mask=False, with arbitrary valid values in the masked entries.
    filled = np.where(patterns < 0, rng.integers(0, 2, size=patterns.shape), patterns)
    masked = model.log_likelihood(
        filled.reshape(-1, *shape).astype(dtype), evidence_mask=(patterns >= 0).reshape(-1, *shape)
    )
    np.testing.assert_allclose(masked, expected, atol=1e-4, err_msg=f"{name}: evidence_mask")

    if np.dtype(dtype).kind == "f":
        with_nan = model.log_likelihood(np.where(patterns < 0, np.nan, patterns).reshape(-1, *shape).astype(dtype))
        np.testing.assert_allclose(with_nan, expected, atol=1e-4, err_msg=f"{name}: NaN entries")


def test_unconditional_sampling_matches_exact_distribution(discrete):
    name, model, shape, table, log_p = discrete
    if table.shape[1] > 4:
        pytest.skip("TV on 2**8 cells needs more samples; the 4-variable models cover it")
    exact = np.exp(log_p)
    assert total_variation(exact, np.full_like(exact, 1 / len(exact))) > 0.1, "non-vacuous: far from uniform"
    samples = model.sample(20000, seed=123)
    assert samples.shape == (20000, *shape)
    assert samples.dtype == np.dtype(model.inputs[0].dtype)
    assert set(np.unique(samples)) <= {0, 1}
    tv = total_variation(empirical(samples.reshape(20000, -1)), exact)
    assert tv < 0.03, f"{name}: TV(samples, exact) = {tv:.4f}"


def test_conditional_sampling_matches_exact_conditional(discrete):
    name, model, shape, table, log_p = discrete
    if table.shape[1] > 4:
        pytest.skip("4-variable models cover conditional sampling")
    dtype = model.inputs[0].dtype
    for evidence, use_mask in (([1, -1, 0, -1], False), ([-1, 0, -1, 1], True)):
        evidence = np.array(evidence)
        observed = evidence >= 0
        match = np.all(~observed | (table == evidence), axis=1)
        conditional = np.where(match, np.exp(log_p - np_logsumexp(log_p[match])), 0.0)
        if use_mask:
            x = np.tile(np.where(observed, evidence, 1), (20000, 1))
            mask = np.tile(observed, (20000, 1)).reshape(-1, *shape)
        else:
            x, mask = np.tile(evidence, (20000, 1)), None
        samples = model.complete(x.reshape(-1, *shape).astype(dtype), evidence_mask=mask, method="sample", seed=7)
        flat = samples.reshape(20000, -1)
        assert np.all(flat[:, observed] == evidence[observed]), "evidence kept"
        assert set(np.unique(flat)) <= {0, 1}
        tv = total_variation(empirical(flat), conditional)
        assert tv < 0.03, f"{name}: conditional TV = {tv:.4f} (evidence {evidence})"


def test_posterior_marginal_completion_picks_most_probable_category(discrete):
    name, model, shape, table, log_p = discrete
    dtype = model.inputs[0].dtype
    rng = np.random.default_rng(3)
    num_vars = table.shape[1]
    patterns = rng.integers(-1, 2, size=(60, num_vars))
    completed = model.complete(patterns.reshape(-1, *shape).astype(dtype)).reshape(60, -1)
    for pattern, row in zip(patterns, completed):
        observed = pattern >= 0
        assert np.all(row[observed] == pattern[observed])
        match = np.all(~observed | (table == pattern), axis=1)
        for v in np.flatnonzero(~observed):
            p1 = np.exp(np_logsumexp(log_p[match & (table[:, v] == 1)]) - np_logsumexp(log_p[match]))
            if abs(p1 - 0.5) > 1e-3:
                assert row[v] == int(p1 > 0.5), f"{name}: var {v} of {pattern}, P(x_v = 1 | e) = {p1:.4f}"


def test_sample_on_spatial_model_shape_and_alias():
    model, shape = build_spatial_4x2(seed=5)
    samples = model.sample(64, seed=11)
    assert samples.shape == (64, *shape)
    assert not np.any(np.isnan(samples))
    assert set(np.unique(samples)) <= {0.0, 1.0}
    np.testing.assert_array_equal(model.sample(64, seed=11), samples)  # seeded sampling is reproducible
    assert not np.array_equal(model.sample(64, seed=12), samples)


def test_float_categories_negative_entries_are_completed():
    # Float-typed categorical inputs: the leaf treats -1 as missing, so completion must fill it.
    model, shape = build_region_graph(seed=4)
    x = np.array([[1, -1, 0, -1], [-1, -1, -1, -1]], np.float32)
    for method in ("posterior_marginal", "mpe", "sample"):
        out = model.complete(x, method=method, seed=0)
        assert set(np.unique(out)) <= {0.0, 1.0}, f"{method}: {out}"
        np.testing.assert_array_equal(out[0, [0, 2]], [1, 0])


# ---------------------------------------------------------------------------------------------------------------
# MPE on a tiny discrete model against enumerated induced trees.


def tiny_discrete_model(sum_op=None, logspace=None):
    s = {} if sum_op is None else dict(sum_op=sum_op, logspace_accumulators=logspace)
    return models.SequentialSumProductNetwork(
        [
            keras.Input((3,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2, **s),
            layers.DenseProduct(num_factors=3),
            layers.DenseSum(num_sums=2, **s),
            layers.RootSum(return_weighted_child_logits=False, **s),
        ]
    )


def tiny_tree_values(w1, w2, w3):
    """Every induced tree ``(t, s0, s1, s2, c0, c1, c2)`` with its weight product, and the indicators it selects."""
    trees, values = [], []
    for t, s0, s1, s2, c0, c1, c2 in itertools.product(range(2), repeat=7):
        product = s0 * 4 + s1 * 2 + s2  # DenseProduct node (i, j, k) = i * n**2 + j * n + k
        value = w3[t, 0] * w2[0, 0, product, t] * w1[0, 0, c0, s0] * w1[1, 0, c1, s1] * w1[2, 0, c2, s2]
        trees.append((c0, c1, c2))
        values.append(value)
    return np.array(trees), np.array(values)


def test_mpe_matches_brute_force_over_induced_trees():
    rng = np.random.default_rng(0)
    model = tiny_discrete_model()
    randomize_accumulators(model, rng, scale=1.0)
    w1, w2, w3 = (normalized_weights(layer) for layer in sum_layers(model))
    assert w1.shape == (3, 1, 2, 2) and w2.shape == (1, 1, 8, 2) and w3.shape == (2, 1)
    selected, values = tiny_tree_values(w1, w2, w3)

    viterbi = max_product(model)

    patterns = np.array(list(itertools.product([-1, 0, 1], repeat=3)), np.int32)
    completions = model.mpe(patterns, seed=0)
    assert completions.dtype == np.int32
    np.testing.assert_array_equal(model.complete(patterns, method="mpe", seed=0), completions)
    # The model's max-product values of every completion and every pattern, one row each, in one call apiece.
    at_completions = viterbi(completions).numpy()[:, 0]
    at_patterns = viterbi(patterns).numpy()[:, 0]
    for pattern, completion, completion_value, pattern_value in zip(patterns, completions, at_completions, at_patterns):
        observed = pattern >= 0
        assert np.all(completion[observed] == pattern[observed]), "evidence kept"
        assert set(completion.tolist()) <= {0, 1}, "valid assignment"
        consistent = np.all(~observed | (selected == pattern), axis=1)
        brute_max = values[consistent].max()
        # The completion attains the max over (trees, missing values) of the joint product.
        at_completion = values[np.all(selected == completion, axis=1)].max()
        np.testing.assert_allclose(at_completion, brute_max, rtol=1e-6, err_msg=f"evidence {pattern}")
        # The model's max-product value at the completion, and with the missing values maximized out.
        np.testing.assert_allclose(np.exp(completion_value), brute_max, rtol=1e-5)
        np.testing.assert_allclose(np.exp(pattern_value), brute_max, rtol=1e-5)


def max_product(model):
    """``model`` evaluated with max-product sums: the value of its most probable induced tree."""

    def evaluate(x):
        with sum_ops_replaced(model.layers, SumOpMaxProduct()):
            return model(x)

    return evaluate


def test_mpe_completion_attains_max_product_on_rat_spn():
    seed = 21
    model, _ = build_rat(seed)
    viterbi = max_product(model)
    table = all_binary(4)
    all_values = viterbi(table).numpy()[:, 0]
    patterns = np.array(list(itertools.product([-1, 0, 1], repeat=4)), np.int32)
    completions = model.mpe(patterns, seed=1)
    # The max-product values of every completion and every pattern, one row each, in one call apiece.
    at_completions = viterbi(completions).numpy()[:, 0]
    at_patterns = viterbi(patterns).numpy()[:, 0]
    for pattern, completion, value, pattern_value in zip(patterns, completions, at_completions, at_patterns):
        observed = pattern >= 0
        assert np.all(completion[observed] == pattern[observed])
        consistent = np.all(~observed | (table == pattern), axis=1)
        best = all_values[consistent].max()  # brute-force max over completions of the max-product value
        np.testing.assert_allclose(value, best, atol=1e-5, err_msg=f"evidence {pattern}")
        np.testing.assert_allclose(pattern_value, best, atol=1e-5)


def test_mpe_completion_attains_max_product_above_a_branching_graph():
    model, _ = build_functional_branches(seed=4)
    viterbi = max_product(model)
    table = all_binary(4)
    all_values = viterbi(table).numpy()[:, 0]
    patterns = np.array(list(itertools.product([-1, 0, 1], repeat=4)), np.int32)
    completions = model.mpe(patterns, seed=1)
    at_completions = viterbi(completions).numpy()[:, 0]  # one row per completion, in one call
    for pattern, completion, value in zip(patterns, completions, at_completions):
        observed = pattern >= 0
        assert np.all(completion[observed] == pattern[observed])
        best = all_values[np.all(~observed | (table == pattern), axis=1)].max()
        np.testing.assert_allclose(value, best, atol=1e-5, err_msg=f"{pattern}")


# ---------------------------------------------------------------------------------------------------------------
# Continuous models: FlatToRegions(2) -> leaf(3) -> DenseSum(2) -> DenseProduct(2) -> DenseSum(1) -> RootSum.


def gaussian_body(leaf_cls):
    return [
        layers.FlatToRegions(num_decomps=2),
        leaf_cls(num_components=3),
        layers.DenseSum(num_sums=2),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=1),
        layers.RootSum(return_weighted_child_logits=False),
    ]


def set_leaf_parameters(model, rng, spread=2.0, scales=(0.4, 1.2)):
    leaf = leaf_of(model)
    shape = tuple(leaf.location.shape)
    assert shape == (2, 2, 3, 1)
    leaf.location.assign(rng.normal(scale=spread, size=shape).astype(np.float32))
    leaf.scale.assign(rng.uniform(*scales, size=shape).astype(np.float32))


def build_continuous(leaf_cls, kind="sequential", seed=0, normalize=False):
    keras.utils.set_random_seed(seed)
    body = gaussian_body(leaf_cls)
    if normalize:
        body = [layers.NormalizeStandardScore(axes="variable_wise")] + body
    model = chain(kind, (2,), "float32", body)
    rng = np.random.default_rng(seed)
    set_leaf_parameters(model, rng)
    randomize_accumulators(model, rng, scale=1.0)
    return model


def grid_for(model, var, half_width=25.0, num=20001):
    """A wide, fine grid for variable ``var`` (in input units when a normalization layer is in front)."""
    leaf = leaf_of(model)
    loc = leaf.location.numpy()[var]
    scale = leaf.scale.numpy()[var]
    low, high = (loc - half_width * scale).min(), (loc + half_width * scale).max()
    norm = [layer for layer in model.layers if isinstance(layer, layers.NormalizeStandardScore)]
    if norm:
        mean, std = norm[0].mean.numpy()[var], norm[0].std.numpy()[var]
        low, high = low * std + mean, high * std + mean
    return np.linspace(low, high, num)


def integrate_over(model, var, other_value, grid):
    """``(log of the integral of p over var, conditional mean of var)`` with the other variable observed."""
    x = np.empty((len(grid), 2), np.float32)
    x[:, var] = grid
    x[:, 1 - var] = other_value
    log_p = model.log_likelihood(x).astype(np.float64)
    shift = log_p.max()
    density = np.exp(log_p - shift)
    mass = np.trapezoid(density, grid)
    return np.log(mass) + shift, np.trapezoid(grid * density, grid) / mass


CONTINUOUS = [
    ("normal", "sequential"),
    ("laplace", "sequential"),
    ("normal", "functional"),
]
LEAVES = {"normal": layers.NormalLeaf, "laplace": layers.LaplaceLeaf}


# normal-sequential: slow extra; the core keeps the Laplace leaf in a sequential model and the normal leaf in a
# functional one, and a sequential normal model's conditional means in test_queries_on_model_loaded_from_keras_file.
@pytest.fixture(
    scope="module",
    params=[
        pytest.param(
            case, id=f"{case[0]}-{case[1]}", marks=[pytest.mark.slow] if case == ("normal", "sequential") else []
        )
        for case in CONTINUOUS
    ],
)
def continuous(request):
    leaf, kind = request.param
    return build_continuous(LEAVES[leaf], kind=kind, seed=CONTINUOUS.index(request.param) + 1)


def evidence_values(model, var, count=5):
    """Observed values spread over the bulk of the other variable's components."""
    loc = leaf_of(model).location.numpy()[1 - var].ravel()
    return np.linspace(loc.min() - 1.0, loc.max() + 1.0, count)


def test_continuous_marginal_equals_integral_of_joint(continuous):
    model = continuous
    for var in (0, 1):
        grid = grid_for(model, var)
        for value in evidence_values(model, var):
            expected, _ = integrate_over(model, var, value, grid)
            x = np.full((1, 2), value, np.float32)
            x[0, var] = np.nan
            got = model.log_likelihood(x)[0]
            assert abs(np.expm1(got - expected)) < 1e-3, f"var {var}, evidence {value}: {got} vs {expected}"
            x[0, var] = 123.0  # an arbitrary value hidden by the mask
            mask = np.ones((1, 2), bool)
            mask[0, var] = False
            got_masked = model.log_likelihood(x, evidence_mask=mask)[0]
            assert abs(np.expm1(got_masked - expected)) < 1e-3


def test_posterior_marginal_completion_is_conditional_mean(continuous):
    model = continuous
    for var in (0, 1):
        grid = grid_for(model, var)
        values = evidence_values(model, var)
        x = np.full((len(values), 2), np.nan, np.float32)
        x[:, 1 - var] = values
        completed = model.complete(x)
        np.testing.assert_array_equal(completed[:, 1 - var], x[:, 1 - var])
        means = np.array([integrate_over(model, var, value, grid)[1] for value in values])
        np.testing.assert_allclose(completed[:, var], means, atol=2e-3, rtol=0)
        # Non-vacuous: the conditional mean depends on the evidence.
        assert np.ptp(means) > 0.02


@pytest.mark.parametrize("method", ["posterior_marginal", "mpe", "sample"])
def test_completion_returns_float64_evidence_as_given(method):
    # The model computes in float32; the observed entries of float64 input come back unrounded, in float64.
    model = build_continuous(layers.NormalLeaf)
    x = np.array([[np.nan, 0.1], [1 / 3, np.nan], [np.pi, np.e]], np.float64)
    completed = model.complete(x, method=method, seed=0)
    assert completed.dtype == np.float64
    observed = ~np.isnan(x)
    np.testing.assert_array_equal(completed[observed], x[observed])
    assert np.all(np.isfinite(completed))


def test_completion_in_input_units_with_standard_score_normalization():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(500, 2)) * np.array([3.0, 0.5]) + np.array([10.0, -5.0])
    model = build_continuous(layers.NormalLeaf, seed=3, normalize=True)
    norm = model.layers[0]
    assert isinstance(norm, layers.NormalizeStandardScore)
    norm.adapt(data.astype(np.float32))
    std = norm.std.numpy()
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(axis=0), rtol=1e-4)
    for var in (0, 1):
        grid = grid_for(model, var)
        loc = leaf_of(model).location.numpy()[1 - var].ravel()
        values = np.linspace(loc.min(), loc.max(), 4) * std[1 - var] + norm.mean.numpy()[1 - var]
        x = np.full((len(values), 2), np.nan, np.float32)
        x[:, 1 - var] = values
        completed = model.complete(x)
        # The density in input units is the normalized one times a constant, so integrating in input units
        # gives the conditional mean in input units.
        means = np.array([integrate_over(model, var, value, grid)[1] for value in values])
        np.testing.assert_allclose(completed[:, var], means, atol=2e-3 * std[var], rtol=0)
        # MPE completions are component locations mapped back to input units.
        mpe = model.mpe(x, seed=0)[:, var]
        candidates = leaf_of(model).location.numpy()[var].ravel() * (std[var] + norm.epsilon) + norm.mean.numpy()[var]
        assert np.all(np.min(np.abs(mpe[:, None] - candidates[None]), axis=1) < 1e-3 * std[var])
    samples = model.sample(4000, seed=2)
    for var in (0, 1):
        grid = grid_for(model, var)
        x = np.full((len(grid), 2), np.nan, np.float32)
        x[:, var] = grid
        density = np.exp(model.log_likelihood(x).astype(np.float64))
        density /= np.trapezoid(density, grid)
        mean = np.trapezoid(grid * density, grid)
        sd = np.sqrt(np.trapezoid((grid - mean) ** 2 * density, grid))
        assert abs(samples[:, var].mean() - mean) < 5 * sd / np.sqrt(len(samples))


def gaussian_trees(model, x0):
    """``(log value, component of variable 1)`` of every induced tree with x0 observed and x1 at its mode."""
    leaf = leaf_of(model)
    loc, scale = leaf.location.numpy()[..., 0].astype(np.float64), leaf.scale.numpy()[..., 0].astype(np.float64)
    w1, w2, w3 = (normalized_weights(layer) for layer in sum_layers(model))
    assert w1.shape == (2, 2, 3, 2) and w2.shape == (1, 2, 4, 1) and w3.shape == (2, 1)
    if isinstance(leaf, layers.NormalLeaf):

        def log_density(x, m, s):
            return -0.5 * ((x - m) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi))
    else:

        def log_density(x, m, s):
            return -np.abs(x - m) / s - np.log(2 * s)

    out = []
    for d, s0, s1, k0, k1 in itertools.product(range(2), range(2), range(2), range(3), range(3)):
        value = (
            np.log(w3[d, 0])
            + np.log(w2[0, d, s0 * 2 + s1, 0])
            + np.log(w1[0, d, k0, s0])
            + np.log(w1[1, d, k1, s1])
            + log_density(x0, loc[0, d, k0], scale[0, d, k0])
            + log_density(loc[1, d, k1], loc[1, d, k1], scale[1, d, k1])
        )
        out.append((value, loc[1, d, k1]))
    return out


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_continuous_mpe_matches_brute_force(leaf):
    model = build_continuous(LEAVES[leaf], seed=7)
    values = evidence_values(model, 1, count=7)
    x = np.stack([values, np.full_like(values, np.nan)], axis=1).astype(np.float32)
    completed = model.mpe(x, seed=0)
    np.testing.assert_array_equal(completed[:, 0], x[:, 0])
    viterbi = max_product(model)
    chosen = set()
    at_completions = viterbi(completed).numpy()[:, 0]  # one row per completion, in one call
    for x0, row, value in zip(values, completed, at_completions):
        trees = gaussian_trees(model, x0)
        best_value, best_location = max(trees)
        assert abs(row[1] - best_location) < 1e-5, f"x0={x0}: MPE {row[1]} vs brute force {best_location}"
        # The max-product value at the completion equals the brute-force max.
        np.testing.assert_allclose(value, best_value, atol=2e-4)
        chosen.add(round(float(best_location), 4))
    assert len(chosen) > 1, "non-vacuous: the evidence changes the MPE"


def test_gaussian_sample_moments_match_integrated_moments():
    model = build_continuous(layers.NormalLeaf, seed=11)
    grids = [grid_for(model, var, half_width=10.0, num=301) for var in (0, 1)]
    g0, g1 = np.meshgrid(grids[0], grids[1], indexing="ij")
    log_p = model.log_likelihood(np.stack([g0.ravel(), g1.ravel()], axis=1).astype(np.float32)).astype(np.float64)
    density = np.exp(log_p).reshape(g0.shape)

    def integral(f):
        return np.trapezoid(np.trapezoid(f * density, grids[1], axis=1), grids[0])

    assert abs(integral(1.0) - 1.0) < 1e-3
    mean = np.array([integral(g0), integral(g1)])
    var = np.array([integral((g0 - mean[0]) ** 2), integral((g1 - mean[1]) ** 2)])
    cov = integral((g0 - mean[0]) * (g1 - mean[1]))

    n = 20000
    samples = model.sample(n, seed=5).astype(np.float64)
    assert samples.shape == (n, 2) and np.all(np.isfinite(samples))
    np.testing.assert_array_less(np.abs(samples.mean(axis=0) - mean), 5 * np.sqrt(var / n) + 1e-3)
    np.testing.assert_allclose(samples.var(axis=0), var, rtol=0.08)
    centred = (samples[:, 0] - mean[0]) * (samples[:, 1] - mean[1])
    assert abs(centred.mean() - cov) < 5 * centred.std() / np.sqrt(n) + 1e-3
    assert abs(cov) > 10 * centred.std() / np.sqrt(n), "non-vacuous: the variables are correlated"


def test_spatial_gaussian_completion_is_conditional_mean():
    keras.utils.set_random_seed(19)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((2, 2, 1)),
            layers.NormalLeaf(num_components=3),
            layers.Local2DSum(num_sums=2),
            prod(),
            layers.SpatialToRegions(),
            layers.DenseSum(num_sums=2),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    rng = np.random.default_rng(19)
    leaf = leaf_of(model)
    leaf.location.assign(rng.normal(scale=2.0, size=tuple(leaf.location.shape)).astype(np.float32))
    leaf.scale.assign(rng.uniform(0.4, 1.2, size=tuple(leaf.scale.shape)).astype(np.float32))
    randomize_accumulators(model, rng, scale=1.0)
    grid = np.linspace(-25.0, 25.0, 20001)
    for evidence in ([0.3, np.nan, 1.0, -0.5], [-2.0, np.nan, 2.5, np.nan]):
        x = np.array(evidence, np.float32).reshape(1, 2, 2, 1)
        completed = model.complete(x)
        assert completed.shape == x.shape
        observed = ~np.isnan(x)
        np.testing.assert_array_equal(completed[observed], x[observed])
        # Conditional mean of pixel (0, 1) given the observed pixels, integrating the other missing ones out.
        xs = np.repeat(x, len(grid), axis=0)
        xs[:, 0, 1, 0] = grid
        density = np.exp(model.log_likelihood(xs).astype(np.float64))
        expected = np.trapezoid(grid * density, grid) / np.trapezoid(density, grid)
        assert abs(completed[0, 0, 1, 0] - expected) < 2e-3
        mpe = model.mpe(x, seed=0)[0, 0, 1, 0]
        assert np.min(np.abs(leaf.location.numpy()[0, 1, :, 0] - mpe)) < 1e-6


# ---------------------------------------------------------------------------------------------------------------
# Saved and loaded models.


def test_queries_on_model_loaded_from_keras_file(tmp_path):
    model = build_continuous(layers.NormalLeaf, seed=13)
    path = str(tmp_path / "spn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, models.SequentialSumProductNetwork)
    values = evidence_values(loaded, 1)
    x = np.stack([values, np.full_like(values, np.nan)], axis=1).astype(np.float32)
    completed = loaded.complete(x)
    grid = grid_for(loaded, 1)
    means = np.array([integrate_over(loaded, 1, value, grid)[1] for value in values])
    np.testing.assert_allclose(completed[:, 1], means, atol=2e-3, rtol=0)
    np.testing.assert_allclose(loaded.log_likelihood(x), model.log_likelihood(x), rtol=1e-6)
    np.testing.assert_array_equal(loaded.mpe(x, seed=0), model.mpe(x, seed=0))
    np.testing.assert_array_equal(loaded.sample(50, seed=3), model.sample(50, seed=3))

    discrete, shape = build_functional_chain(seed=14)
    path = str(tmp_path / "functional.keras")
    discrete.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, models.SumProductNetwork)
    table, log_p = joint_table(loaded, shape)
    patterns = np.array(list(itertools.product([-1, 0, 1], repeat=4)))
    np.testing.assert_allclose(
        loaded.log_likelihood(patterns.astype(np.int32)), exact_marginals(table, log_p, patterns), atol=1e-4
    )
    samples = loaded.sample(20000, seed=9)
    assert total_variation(empirical(samples), np.exp(log_p)) < 0.03


# ---------------------------------------------------------------------------------------------------------------
# Bad input: clear errors, never a silent NaN.


def test_evidence_mask_shape_mismatch_raises():
    model, _ = build_rat(seed=30)
    x = np.zeros((3, 4), np.int32)
    for bad_mask in (np.ones((3, 3), bool), np.ones((4,), bool), np.ones((1, 4), bool)):
        with pytest.raises(ValueError, match="evidence_mask"):
            model.log_likelihood(x, evidence_mask=bad_mask)
        for method in ("posterior_marginal", "mpe", "sample"):
            with pytest.raises(ValueError, match="evidence_mask"):
                model.complete(x, evidence_mask=bad_mask, method=method)
        with pytest.raises(ValueError, match="evidence_mask"):
            model.mpe(x, evidence_mask=bad_mask)


@pytest.mark.parametrize("method", ["MPE", "marginal", "sampling", "", None])
def test_unknown_completion_method_raises(method):
    model, _ = build_rat(seed=31)
    with pytest.raises(ValueError, match="method must be one of"):
        model.complete(np.zeros((2, 4), np.int32), method=method)


def test_model_without_leaf_raises():
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((3, 1, 2)),  # log-probabilities given directly
            layers.DenseProduct(num_factors=3),
            layers.DenseSum(num_sums=1),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    x = np.zeros((2, 3, 1, 2), np.float32)
    x[:, :, :, 1] = np.nan
    for query in (
        lambda: model.complete(x),
        lambda: model.mpe(x),
        lambda: model.complete(x, method="sample"),
        lambda: model.sample(3),
        lambda: model.zero_evidence_inference(3),
    ):
        with pytest.raises(ValueError, match="no leaf layer"):
            query()


def test_unsupported_layer_before_leaf_raises():
    model = models.SequentialSumProductNetwork(
        [keras.Input((2,)), keras.layers.Rescaling(2.0)] + gaussian_body(layers.NormalLeaf)
    )
    with pytest.raises(ValueError, match="Rescaling"):
        model.complete(np.array([[0.0, np.nan]], np.float32))


def test_zero_probability_evidence_raises_instead_of_nan():
    # A depthwise product of indicators: images whose pixels differ have probability zero.
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((2, 2, 1), dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            prod(depthwise=True),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    impossible = np.array([[[0], [1]], [[-1], [-1]]], np.int32)[None]
    possible = np.array([[[1], [-1]], [[-1], [1]]], np.int32)[None]
    assert model.log_likelihood(impossible)[0] == -np.inf
    for method in ("posterior_marginal", "mpe", "sample"):
        with pytest.raises(ValueError, match="probability zero"):
            model.complete(np.concatenate([possible, impossible]), method=method, seed=0)
        np.testing.assert_array_equal(model.complete(possible, method=method, seed=0), np.ones_like(possible))


def test_continuous_queries_never_return_nan():
    model = build_continuous(layers.NormalLeaf, seed=17)
    x = np.array([[np.nan, np.nan], [40.0, np.nan], [np.nan, -40.0], [1e3, np.nan]], np.float32)
    ll = model.log_likelihood(x)
    assert not np.any(np.isnan(ll))
    assert ll[0] == pytest.approx(0.0, abs=1e-5)
    for method in ("posterior_marginal", "mpe", "sample"):
        out = model.complete(x, method=method, seed=0)
        assert np.all(np.isfinite(out)), f"{method}: {out}"


def two_var_model(sum_op):
    return models.SequentialSumProductNetwork(
        [
            keras.Input((2,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2, sum_op=sum_op),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=1, sum_op=sum_op),
            layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op),
        ]
    )


@pytest.mark.parametrize("sum_op", ["hard_em", "unweighted_hard_em"])
def test_log_likelihood_is_exact_for_hard_em_models(sum_op):
    keras.utils.set_random_seed(0)
    model = two_var_model(sum_op)
    log_p = model.log_likelihood(all_binary(2))
    assert abs(np_logsumexp(log_p)) < 1e-6
    # Hard EM is hard only backward: the model's own forward pass is the exact sum (0.6.0).
    np.testing.assert_allclose(model(all_binary(2)).numpy()[:, 0], log_p, atol=1e-6)
    assert model.log_likelihood(np.full((1, 2), -1, "int32"))[0] == pytest.approx(0.0, abs=1e-6)


def test_queries_reject_categories_the_leaf_does_not_have():
    model = two_var_model("grad")
    with pytest.raises(ValueError, match="category 5"):
        model.log_likelihood(np.array([[0, 5]], "int32"))
    with pytest.raises(ValueError, match="category 2"):
        model.complete(np.array([[2, -1]], "int32"))


def test_sampling_through_a_sample_wise_normalizer_is_refused():
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((3,)),
            layers.NormalizeStandardScore(axes="sample_wise"),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2),
            layers.DenseSum(num_sums=1),
            layers.ReduceProduct(num_factors=3),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    with pytest.raises(ValueError, match="at least 2 observed"):
        model.sample(2)
    completed = model.complete(np.array([[0.5, np.nan, 2.0]], "float32"))
    assert np.isfinite(completed).all()


def test_queries_refuse_a_model_with_another_layer_before_its_leaf():
    # A Dense layer before the leaf makes the SPN a density over its outputs: the input cannot be marginalized.
    inputs = keras.Input((4,))
    features = keras.layers.Dense(4, name="features")(inputs)
    x = layers.NormalLeaf(num_components=2)(layers.FlatToRegions(num_decomps=1)(features))
    root = layers.RootSum(return_weighted_child_logits=False)
    model = models.SumProductNetwork(inputs, root(layers.ReduceProduct(num_factors=4)(x)))
    data = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    assert model.predict(data, verbose=0).shape == (3, 1)
    for query in (model.log_likelihood, model.complete, model.mpe):
        with pytest.raises(ValueError, match="found Dense 'features'.*neither marginalize nor fill in.*predict"):
            query(data)


# ---------------------------------------------------------------------------------------------------------------
# Queries conditioned on a class: a RAT-SPN with 3 class roots over 4 binary variables, against its joint table.


def class_root_model(jit_compile=True):
    keras.utils.set_random_seed(5)
    model = models.build_rat_spn(
        num_vars=4, depth=2, num_decomps=2, num_input_distributions=2, num_sums=2, num_classes=3
    )
    randomize_accumulators(model, np.random.default_rng(5))
    model.compile(optimizer="adam", jit_compile=jit_compile)
    return model


@pytest.fixture(scope="module")
def class_model():
    """``class_root_model()``, built and compiled once for the tests that only query it (none changes it): the
    queries it compiles (kept on the model per query and batch shape) serve them all."""
    return class_root_model()


# False (graph mode): slow extra; the core samples one class under XLA (True, the compile a default "auto" gives on
# CPU, as in every other class-root test here).
@pytest.mark.parametrize("jit_compile", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_sampling_one_class_draws_from_its_conditional(jit_compile, class_model):
    model = class_model if jit_compile else class_root_model(jit_compile)
    table = all_binary(4)
    joint = np.exp(model.predict(table, verbose=0).astype(np.float64))  # p(x, y) [16, 3]
    conditionals = joint / joint.sum(axis=0)
    for label in range(3):
        samples = model.sample(20000, seed=label, labels=label)
        assert samples.shape == (20000, 4) and samples.dtype == np.int32
        frequencies = empirical(samples)
        distances = [total_variation(frequencies, conditionals[:, c]) for c in range(3)]
        assert distances[label] < 0.02, distances
        assert distances[label] < min(d for c, d in enumerate(distances) if c != label) / 3, distances
    # One label per row: each row from its own class.
    mixed = model.sample(30000, seed=3, labels=np.arange(30000) % 3)
    for label in range(3):
        assert total_variation(empirical(mixed[label::3]), conditionals[:, label]) < 0.025


def test_completion_given_a_class_matches_the_class_conditional_posterior(class_model):
    model = class_model
    table = all_binary(4)
    joint = np.exp(model.predict(table, verbose=0).astype(np.float64))
    patterns = np.array(list(itertools.product([-1, 0, 1], repeat=4)), np.int32)
    for label in range(3):
        completed = model.complete(patterns, labels=label)
        for pattern, completion in zip(patterns, completed):
            consistent = np.all((pattern < 0) | (table == pattern), axis=1)
            weights = joint[consistent, label]
            ones = (weights[:, None] * table[consistent]).sum(axis=0) / weights.sum()
            expected = np.where(pattern < 0, (ones > 0.5).astype(np.int32), pattern)
            # Posterior marginals within 1e-4 of one half could round either way in float32.
            decided = np.abs(ones - 0.5) > 1e-4
            np.testing.assert_array_equal(completion[decided], expected[decided], err_msg=f"{pattern}, class {label}")


def test_mpe_given_a_class_attains_that_class_roots_max_product(class_model):
    model = class_model
    viterbi = max_product(model)
    table = all_binary(4)
    all_values = viterbi(table).numpy()  # [16, 3]: the best tree's value under each class root
    patterns = np.array(list(itertools.product([-1, 0, 1], repeat=4)), np.int32)
    for label in range(3):
        completions = model.mpe(patterns, seed=1, labels=np.full([len(patterns), 1], label))
        at_completions = viterbi(completions).numpy()[:, label]  # one row per completion, in one call
        for pattern, completion, value in zip(patterns, completions, at_completions):
            observed = pattern >= 0
            assert np.all(completion[observed] == pattern[observed])
            best = all_values[np.all(~observed | (table == pattern), axis=1), label].max()
            np.testing.assert_allclose(value, best, atol=1e-5, err_msg=f"evidence {pattern}, class {label}")


@pytest.mark.parametrize(
    "labels, message",
    [
        (3, r"lie in 0 to 2 \(the model's 3 class roots\)"),
        (-1, "lie in 0 to 2"),
        (1.5, "integer class indices"),
        (True, "integer class indices"),
        ([0, 1], r"one per sample \(3\), got shape \(2,\)"),
    ],
)
def test_invalid_labels_are_refused(labels, message, class_model):
    model = class_model
    x = np.full((3, 4), -1, np.int32)
    with pytest.raises(ValueError, match=message):
        model.complete(x, labels=labels)
    with pytest.raises(ValueError, match=message):
        model.sample(3, labels=labels)


def test_labels_read_as_floats_are_taken_when_they_are_whole_numbers(class_model):
    model = class_model
    x = np.array([[1, -1, 0, -1], [-1, 1, -1, 0], [0, 0, -1, -1]], np.int32)
    np.testing.assert_array_equal(
        model.complete(x, labels=np.array([0.0, 2.0, 1.0], np.float32)), model.complete(x, labels=[0, 2, 1])
    )


def test_labels_are_refused_by_a_model_of_one_root():
    model, _ = build_rat(3)
    with pytest.raises(ValueError, match="labels pick one of a model's class roots.*has one root"):
        model.sample(4, labels=0)


def test_labels_for_no_rows_and_for_a_class_of_prior_zero():
    # Graph mode (this test changes the model's weights, so it cannot share class_model): the class-root queries run
    # under XLA (the default) in the tests above.
    model = class_root_model(jit_compile=False)
    assert model.complete(np.zeros((0, 4), np.int32), labels=[]).shape == (0, 4)
    root = model.layers[-1]
    accumulators = root.accumulators.numpy()
    accumulators[1] = -np.inf if root.logspace_accumulators else 0.0  # p(y = 1) = 0
    root.accumulators.assign(accumulators)
    with pytest.raises(ValueError, match=r"\.sample: .*or their class \(a class root of prior weight 0\)"):
        model.sample(4, labels=1)
    assert model.sample(4, labels=2, seed=0).shape == (4, 4)
