"""The central invariant: spatial SPNs are normalized distributions.

Discrete models on 4x4 binary images are evaluated on all 2**16 images; their
probabilities must sum to 1 (``|logsumexp| < 1e-4``) whatever (random) values
the accumulators hold, in log or linear space, for every sum op whose forward
pass is the exact sum. Hard-EM ops compute max-product (Viterbi) values
instead; those are checked against a brute-force numpy computation. Continuous
leaves are checked by numerical integration.
"""

import math

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp, randomize_accumulators
from tensorflow import keras

from libspn_keras import layers
from libspn_keras.models.queries import sum_ops_replaced
from libspn_keras.sum_ops.max_product import SumOpMaxProduct

NUM_PIXELS = 16
ALL_IMAGES = all_binary(NUM_PIXELS).reshape(-1, 4, 4, 1).astype(np.float32)
CHUNK = 65536


def evaluate(model, x, chunk=CHUNK):
    """``log p(x)`` as a float64 vector, evaluated in chunks."""
    outs = [model(x[i : i + chunk]).numpy() for i in range(0, len(x), chunk)]
    out = np.concatenate(outs, axis=0).astype(np.float64)
    assert out.shape == (len(x), 1)
    return out[:, 0]


def spec_output_size(size, kernel, stride, dilation, padding):
    """SPEC section 3: ``ceil((size + pads - k_eff + 1) / stride)``."""
    k_eff = (kernel - 1) * dilation + 1
    pads = {"valid": 0, "full": 2 * (k_eff - 1), "final": (k_eff - 1) * 2 - size}[padding]
    return math.ceil((size + pads - k_eff + 1) / stride)


def prod(kernel=2, stride=2, dilation=1, padding="valid", **kwargs):
    return layers.Conv2DProduct(kernel_size=kernel, strides=stride, dilations=dilation, padding=padding, **kwargs)


# Each architecture: a function of the sum-layer kwargs returning the layers between Input and RootSum, and the
# expected (rows, cols, channels) of every Conv2DProduct, derived by hand from the SPEC formula.
def arch_nonoverlap_all_combinations(s):
    return [
        layers.IndicatorLeaf(num_components=2),
        prod(),  # 4x4x2 -> 2x2x(2**4)
        layers.Local2DSum(num_sums=3, **s),
        prod(),  # 2x2x3 -> 1x1x(3**4)
        layers.SpatialToRegions(),
    ], [(2, 2, 16), (1, 1, 81)]


def arch_nonoverlap_channel_subset(s):
    return [
        layers.IndicatorLeaf(num_components=2),
        prod(num_channels=5, seed=3),
        layers.Conv2DSum(num_sums=4, **s),
        prod(num_channels=6, seed=4),
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=3, **s),
    ], [(2, 2, 5), (1, 1, 6)]


def arch_depthwise_after_sum(s):
    return [
        layers.IndicatorLeaf(num_components=2),
        layers.Local2DSum(num_sums=3, **s),
        prod(depthwise=True),
        layers.Conv2DSum(num_sums=4, **s),
        prod(depthwise=True),
        layers.SpatialToRegions(),
    ], [(2, 2, 3), (1, 1, 4)]


def arch_depthwise_on_leaf(s):
    # Mixed windows get probability 0 (a depthwise product of indicators); still normalized.
    return [
        layers.IndicatorLeaf(num_components=2),
        prod(depthwise=True),
        layers.Local2DSum(num_sums=3, **s),
        prod(depthwise=True),
        layers.SpatialToRegions(),
    ], [(2, 2, 2), (1, 1, 3)]


def arch_dgc_channel_combinations(s):
    # 4 -> (k2 d1 full) 5 -> (d2 full) 7 -> (d4 final) 4
    return [
        layers.IndicatorLeaf(num_components=2),
        prod(stride=1, dilation=1, padding="full", num_channels=6, seed=6),
        layers.Local2DSum(num_sums=2, **s),
        prod(stride=1, dilation=2, padding="full", num_channels=6, seed=7),
        layers.Conv2DSum(num_sums=2, **s),
        prod(stride=1, dilation=4, padding="final"),
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=3, **s),
    ], [(5, 5, 6), (7, 7, 6), (4, 4, 16)]


def arch_dgc_depthwise(s):
    return [
        layers.IndicatorLeaf(num_components=2),
        layers.Local2DSum(num_sums=3, **s),
        prod(stride=1, dilation=1, padding="full", depthwise=True),
        layers.Local2DSum(num_sums=3, **s),
        prod(stride=1, dilation=2, padding="full", depthwise=True),
        layers.Conv2DSum(num_sums=3, **s),
        prod(stride=1, dilation=4, padding="final", depthwise=True),
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=2, **s),
    ], [(5, 5, 3), (7, 7, 3), (4, 4, 3)]


def arch_nonoverlap_then_dgc(s):
    # 4 -> (k2 s2 valid) 2 -> (k2 d1 full) 3 -> (d2 final: pad (3-1)*2-3 = 1) 2
    return [
        layers.IndicatorLeaf(num_components=2),
        layers.Local2DSum(num_sums=2, **s),
        prod(depthwise=True),
        layers.Local2DSum(num_sums=2, **s),
        prod(stride=1, dilation=1, padding="full", num_channels=7, seed=5),
        layers.Conv2DSum(num_sums=2, **s),
        prod(stride=1, dilation=2, padding="final"),
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=2, **s),
    ], [(2, 2, 2), (3, 3, 7), (2, 2, 16)]


ARCHITECTURES = {
    "nonoverlap_all_combinations": arch_nonoverlap_all_combinations,
    "nonoverlap_channel_subset": arch_nonoverlap_channel_subset,
    "depthwise_after_sum": arch_depthwise_after_sum,
    "depthwise_on_leaf": arch_depthwise_on_leaf,
    "dgc_channel_combinations": arch_dgc_channel_combinations,
    "dgc_depthwise": arch_dgc_depthwise,
    "nonoverlap_then_dgc": arch_nonoverlap_then_dgc,
}

# (sum_op, logspace_accumulators)
SUM_CONFIGS = [("grad", True), ("grad", False), ("em", False), ("sample", False)]


def build_discrete_model(arch, sum_op, logspace, input_shape=(4, 4, 1)):
    s = dict(sum_op=sum_op, logspace_accumulators=logspace)
    body, product_shapes = ARCHITECTURES[arch](s)
    model = keras.Sequential(
        [keras.Input(input_shape)] + body + [layers.RootSum(return_weighted_child_logits=False, **s)]
    )
    return model, product_shapes


# dgc_channel_combinations, the costliest architecture, enumerates its 2**16 images in the core with one sum config
# (sample-lin); its other three are slow extras. Every sum config still enumerates it in the core on the other six
# architectures, with the same sum layers (Local2DSum, Conv2DSum, DenseSum) above DGC products with channel subsets
# (nonoverlap_then_dgc), and test_missing_pixels_give_exact_marginals[dgc_channel_combinations] runs it grad-log.
SLOW_SUM_CONFIGS = {"dgc_channel_combinations": {("grad", True), ("grad", False), ("em", False)}}


@pytest.mark.parametrize(
    "arch, sum_op, logspace",
    [
        pytest.param(
            arch,
            sum_op,
            logspace,
            id=f"{arch}-{sum_op}-{'log' if logspace else 'lin'}",
            marks=[pytest.mark.slow] if (sum_op, logspace) in SLOW_SUM_CONFIGS.get(arch, ()) else [],
        )
        for arch in sorted(ARCHITECTURES)
        for sum_op, logspace in SUM_CONFIGS
    ],
)
def test_discrete_spatial_spn_sums_to_one(arch, sum_op, logspace):
    model, product_shapes = build_discrete_model(arch, sum_op, logspace)
    products = [layer for layer in model.layers if isinstance(layer, layers.Conv2DProduct)]
    assert [tuple(p.output.shape[1:]) for p in products] == product_shapes
    for p, (rows, _, _) in zip(products, product_shapes):
        assert spec_output_size(p.input.shape[1], p.kernel_size[0], p.strides[0], p.dilations[0], p.padding) == rows

    rng = np.random.default_rng([sorted(ARCHITECTURES).index(arch), SUM_CONFIGS.index((sum_op, logspace))])
    randomize_accumulators(model, rng, logspace)
    log_p = evaluate(model, ALL_IMAGES)

    assert not np.any(np.isnan(log_p))
    assert np.all(log_p <= 1e-5), "no single image can have probability above 1"
    total = np_logsumexp(log_p)
    assert abs(total) < 1e-4, f"probabilities of all 2**16 images sum to exp({total}) instead of 1"
    # The random weights must make the distribution far from uniform, or the check above would be vacuous.
    finite = log_p[np.isfinite(log_p)]
    assert np.std(finite) > 0.1


@pytest.mark.parametrize("arch", ["dgc_channel_combinations", "nonoverlap_channel_subset", "depthwise_on_leaf"])
def test_missing_pixels_give_exact_marginals(arch):
    # A negative category marginalizes a pixel: p(x_observed) = sum over completions of p(x).
    model, _ = build_discrete_model(arch, "grad", True)
    randomize_accumulators(model, np.random.default_rng(99), True)
    rng = np.random.default_rng(100)
    images = ALL_IMAGES[rng.choice(len(ALL_IMAGES), size=8, replace=False)]
    missing = [(0, 0), (1, 2), (3, 3)]
    partial = images.copy()
    for r, c in missing:
        partial[:, r, c, 0] = -1.0
    completions = np.repeat(partial, 8, axis=0)
    for j, (r, c) in enumerate(missing):
        completions[:, r, c, 0] = np.tile((np.arange(8) >> j) & 1, len(images))
    marginal = evaluate(model, partial)
    full = evaluate(model, completions).reshape(len(images), 8)
    np.testing.assert_allclose(marginal, np_logsumexp(full, axis=1), atol=1e-4)
    # All pixels missing: the marginal over everything is 1.
    np.testing.assert_allclose(evaluate(model, -np.ones((2, 4, 4, 1), np.float32)), 0.0, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# Hard EM: max-product (Viterbi) forward pass
# ----------------------------------------------------------------------------------------------------------------------


def _tiny_model(sum_op):
    s = dict(sum_op=sum_op, logspace_accumulators=False)
    return keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            layers.IndicatorLeaf(num_components=2),
            layers.Local2DSum(num_sums=3, **s),
            prod(),  # 2x2x3 -> 1x1x81
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False, **s),
        ]
    )


def _brute_force_tiny(local_acc, root_acc, kernel, images):
    """Viterbi and exact log-probabilities of the tiny model, enumerating every root child (induced tree)."""
    local_w = local_acc / local_acc.sum(axis=2, keepdims=True)  # [2, 2, 2 indicators, 3 sums]
    root_w = root_acc[:, 0] / root_acc[:, 0].sum()  # [81]
    picks = np.argmax(kernel, axis=2)  # [2, 2, 81]: sum channel taken from each cell by each product
    # Every product channel is a distinct combination of one sum per cell.
    assert len({tuple(picks[:, :, c].ravel()) for c in range(picks.shape[-1])}) == 81
    viterbi, exact = [], []
    for img in images:
        terms = np.log(root_w).copy()
        for r in range(2):
            for c in range(2):
                x = int(img[r, c, 0])
                # the sum at a cell: its only non-zero child is the indicator of the observed value
                terms += np.log(local_w[r, c, x, picks[r, c]])
        viterbi.append(terms.max())
        exact.append(np_logsumexp(terms))
    return np.array(viterbi), np.array(exact)


def max_product(model, x):
    """``model`` evaluated with max-product sums (the MPE query's op): the value of its most probable tree."""
    with sum_ops_replaced(model.layers, SumOpMaxProduct()):
        return evaluate(model, x)


@pytest.mark.parametrize("sum_op", ["hard_em", "unweighted_hard_em"])
def test_hard_em_forward_is_exact_and_max_product_is_viterbi_on_tiny_model(sum_op):
    rng = np.random.default_rng(21)
    images = all_binary(4).reshape(-1, 2, 2, 1).astype(np.float32)
    hard = _tiny_model(sum_op)
    randomize_accumulators(hard, rng, False)
    local_acc = hard.layers[1].accumulators.numpy().astype(np.float64)
    root_acc = hard.layers[-1].accumulators.numpy().astype(np.float64)
    kernel = hard.layers[2].kernel.numpy()

    ref_viterbi, ref_exact = _brute_force_tiny(local_acc, root_acc, kernel, images)
    # Hard EM is hard only in the backward pass: its forward is the exact sum (0.6.0).
    log_hard = evaluate(hard, images)
    np.testing.assert_allclose(log_hard, ref_exact, atol=1e-5)
    assert abs(np_logsumexp(log_hard)) < 1e-5
    log_viterbi = max_product(hard, images)
    np.testing.assert_allclose(log_viterbi, ref_viterbi, atol=1e-5)
    assert np.any(log_viterbi < log_hard - 1e-3), "max-product must differ from the sum for mixed weights"


@pytest.mark.parametrize("sum_op", ["hard_em", "unweighted_hard_em"])
@pytest.mark.parametrize("arch", ["dgc_channel_combinations", "nonoverlap_channel_subset"])
def test_hard_em_is_exact_and_max_product_bounded_by_it(arch, sum_op):
    hard, _ = build_discrete_model(arch, sum_op, False)
    exact, _ = build_discrete_model(arch, "grad", False)
    randomize_accumulators(hard, np.random.default_rng(31), False)
    for h_layer, e_layer in zip(hard.layers, exact.layers):
        if hasattr(h_layer, "accumulators"):
            e_layer.accumulators.assign(h_layer.accumulators)
    images = ALL_IMAGES[::7]
    log_exact = evaluate(exact, images)
    np.testing.assert_allclose(evaluate(hard, images), log_exact, atol=1e-5)
    log_viterbi = max_product(hard, images)
    assert np.all(log_viterbi <= log_exact + 1e-5)
    assert np.any(log_viterbi < log_exact - 1e-3)
    assert np.all(np.isfinite(log_viterbi[np.isfinite(log_exact)]))


# ----------------------------------------------------------------------------------------------------------------------
# Continuous leaves: numerical integration
# ----------------------------------------------------------------------------------------------------------------------


def _continuous_model(leaf, input_shape, middle=()):
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            leaf,
            *middle,
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    rng = np.random.default_rng(41)
    leaf.location.assign(rng.uniform(-2.0, 2.0, size=tuple(leaf.location.shape)).astype(np.float32))
    leaf.scale.assign(rng.uniform(0.5, 2.0, size=tuple(leaf.scale.shape)).astype(np.float32))
    randomize_accumulators(model, rng, True)
    return model


def _trapezoid(y, x):
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


@pytest.mark.parametrize("leaf_cls,half_width", [(layers.NormalLeaf, 40.0), (layers.LaplaceLeaf, 80.0)])
def test_continuous_leaf_root_integrates_to_one(leaf_cls, half_width):
    model = _continuous_model(leaf_cls(num_components=3), (1, 1, 1))
    x = np.linspace(-half_width, half_width, 400001)
    log_p = evaluate(model, x.astype(np.float32).reshape(-1, 1, 1, 1), chunk=100001)
    integral = _trapezoid(np.exp(log_p), x)
    assert abs(integral - 1.0) < 1e-3, integral


def test_cauchy_leaf_root_integrates_to_one_over_the_whole_line():
    model = _continuous_model(layers.CauchyLeaf(num_components=3), (1, 1, 1))
    n = 400000
    t = -np.pi / 2 + (np.arange(n) + 0.5) * (np.pi / n)  # midpoints of (-pi/2, pi/2)
    x = np.tan(t)
    log_p = evaluate(model, x.astype(np.float32).reshape(-1, 1, 1, 1), chunk=100000)
    # x = tan(t), dx = (1 + x**2) dt
    integral = float(np.sum(np.exp(log_p + np.log1p(x**2))) * (np.pi / n))
    assert abs(integral - 1.0) < 1e-3, integral


def _grid_2d(half_width, n):
    g = np.linspace(-half_width, half_width, n)
    a, b = np.meshgrid(g, g, indexing="ij")
    return g, a, b


def _integrate_2d(log_p, g):
    density = np.exp(log_p).reshape(len(g), len(g))
    inner = np.array([_trapezoid(row, g) for row in density])
    return _trapezoid(inner, g)


def test_multivariate_normal_leaf_integrates_to_one():
    model = _continuous_model(layers.NormalLeaf(num_components=3), (1, 1, 2))
    g, a, b = _grid_2d(16.0, 801)
    points = np.stack([a.ravel(), b.ravel()], axis=-1).astype(np.float32).reshape(-1, 1, 1, 2)
    integral = _integrate_2d(evaluate(model, points, chunk=131072), g)
    assert abs(integral - 1.0) < 1e-3, integral


def test_product_of_two_laplace_cells_integrates_to_one():
    # Two variables in a 1x2 image, joined by a (1, 2) product window over all channel pairs, then the root.
    leaf = layers.LaplaceLeaf(num_components=2)
    model = _continuous_model(leaf, (1, 2, 1), middle=(prod(kernel=(1, 2), stride=(1, 2)),))
    assert tuple(model.layers[1].output.shape[1:]) == (1, 1, 4)
    g, a, b = _grid_2d(40.0, 1601)
    points = np.stack([a.ravel(), b.ravel()], axis=-1).astype(np.float32).reshape(-1, 1, 2, 1)
    integral = _integrate_2d(evaluate(model, points, chunk=131072), g)
    assert abs(integral - 1.0) < 1e-3, integral


def test_continuous_model_is_a_mixture_of_products_of_densities():
    # Spot check of values: with 1 component per cell and one product, log p(x) is the sum of the leaf densities.
    leaf = layers.NormalLeaf(num_components=1)
    model = keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            leaf,
            prod(),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    loc = np.array([0.0, 1.0, -1.0, 2.0], np.float32).reshape(2, 2, 1, 1)
    scale = np.array([1.0, 0.5, 2.0, 1.5], np.float32).reshape(2, 2, 1, 1)
    leaf.location.assign(loc)
    leaf.scale.assign(scale)
    x = np.array([0.3, -0.2, 1.0, 2.5], np.float32).reshape(1, 2, 2, 1)
    z = (x.ravel() - loc.ravel()) / scale.ravel()
    expected = np.sum(-0.5 * z**2 - np.log(scale.ravel()) - 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(model(tf.constant(x)).numpy(), [[expected]], atol=1e-5)
