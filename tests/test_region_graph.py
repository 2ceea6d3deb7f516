"""Region graphs: the data structure, the 0.6.0 dense layout and normalization of the compiled dense SPNs."""

import itertools

import numpy as np
import pytest
from reference import all_binary, np_logsumexp
from tensorflow import keras

import libspn_keras as spn
from libspn_keras import layers, models, optimizers
from libspn_keras.region_graph import region_graph_layout


def two_decompositions():
    v = [spn.RegionVariable(i) for i in range(5)]
    first = spn.RegionNode([spn.RegionNode([v[0], v[1]]), spn.RegionNode([v[2], spn.RegionNode([v[3], v[4]])])])
    second = spn.RegionNode([spn.RegionNode([v[4], v[2], v[0]]), spn.RegionNode([v[1], v[3]])])
    return [first, second]


def test_overlapping_children_raise():
    v = [spn.RegionVariable(i) for i in range(3)]
    with pytest.raises(spn.OverlappingScopesException, match="overlap on variables \\[1\\]"):
        spn.RegionNode([spn.RegionNode([v[0], v[1]]), spn.RegionNode([v[1], v[2]])])
    assert issubclass(spn.OverlappingScopesException, ValueError)


def test_bad_region_arguments_raise():
    v = [spn.RegionVariable(i) for i in range(3)]
    with pytest.raises(ValueError, match="RegionVariable"):
        spn.RegionVariable(-1)
    with pytest.raises(ValueError, match="at least one child"):
        spn.RegionNode([])
    with pytest.raises(ValueError, match="partition 1 covers variables \\[0, 1\\]"):
        spn.RegionNode(partitions=[[v[0], v[1], v[2]], [v[0], v[1]]])
    with pytest.raises(ValueError, match="product must be one of"):
        spn.RegionNode([v[0], v[1]], product="hadamard")
    with pytest.raises(ValueError, match="either children"):
        spn.RegionNode()


def test_regions_print_and_expose_scope_as_in_0_6_0():
    x = [spn.RegionVariable(i) for i in range(3)]
    root = spn.RegionNode([spn.RegionNode([x[0], x[1]]), x[2]])
    assert repr(x[0]) == str(x[0]) == "x0"
    assert str(root) == "{{x0, x1}, x2}"
    assert root.scope == [x[0], x[1], x[2]] and x[2].scope == [x[2]]
    assert root.children[1] is x[2] and x[0].children == []
    assert isinstance(root, spn.Region) and isinstance(x[0], spn.Region)
    assert root.variables == frozenset({0, 1, 2})
    several = spn.RegionNode(partitions=[[x[0], x[1]], [x[1], x[0]]])
    assert str(several) == "{x0, x1 | x1, x0}" and several.children == [x[0], x[1]]


def test_original_import_paths():
    from libspn_keras.region import (  # noqa: F401
        OverlappingScopesException,
        Region,
        RegionNode,
        RegionVariable,
        region_graph_to_dense_spn,
    )
    from libspn_keras.region_graph import region_graph_to_dense_spn as old_path

    assert region_graph_to_dense_spn is spn.region_graph_to_dense_spn is old_path is models.region_graph_to_dense_spn


def test_scopes_and_heights():
    first, second = two_decompositions()
    assert first.variables == frozenset(range(5)) == second.variables
    assert first.height == 3 and second.height == 2


def test_layout_counts_levels_from_the_root_and_pads_to_the_widest_region():
    factors, permutations = region_graph_layout(two_decompositions())
    # Depth 0: two children each; depth 1: up to three ({4, 2, 0}); depth 2: the pair {3, 4}.
    assert factors == [2, 3, 2]
    assert permutations.tolist() == [
        [0, -1, 1, -1, -1, -1, 2, -1, 3, 4, -1, -1],
        [4, -1, 2, -1, 0, -1, 1, -1, 3, -1, -1, -1],
    ]


# Layouts and layer summaries of libspn-keras 0.6.0 on the graphs it accepts (checked against the original).
ORIGINAL_LAYOUTS = [
    ("balanced", lambda x: spn.RegionNode([spn.RegionNode(x[:2]), spn.RegionNode(x[2:4])]), [0, 1, 2, 3], [2, 2]),
    ("uneven", lambda x: spn.RegionNode([x[0], spn.RegionNode(x[1:3])]), [0, -1, 1, 2], [2, 2]),
    (
        "three",
        lambda x: spn.RegionNode([spn.RegionNode(x[:2]), spn.RegionNode(x[2:4]), spn.RegionNode(x[4:6])]),
        [0, 1, 2, 3, 4, 5],
        [2, 3],
    ),
]


@pytest.mark.parametrize("name, build, permutation, factors", ORIGINAL_LAYOUTS)
def test_dense_spn_matches_0_6_0_structure(name, build, permutation, factors):
    root = build([spn.RegionVariable(i) for i in range(6)])
    layout_factors, permutations = region_graph_layout([root])
    assert layout_factors == factors and permutations.tolist() == [permutation]
    model = spn.region_graph_to_dense_spn(
        root, leaf_node=layers.NormalLeaf(num_components=4), num_sums_iterable=itertools.cycle([2])
    )
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "FlatToRegions",
        "NormalLeaf",
        "PermuteAndPadScopes",
        "DenseProduct",
        "DenseSum",
        "DenseProduct",
        "RootSum",
    ]
    sums = [layer.count_params() for layer in model.layers if isinstance(layer, (layers.DenseSum, layers.RootSum))]
    # 0.6.0: balanced 64 + 4, uneven 64 + 4, three 96 + 8.
    expected = {"balanced": [64, 4], "uneven": [64, 4], "three": [96, 8]}[name]
    assert sums == expected


def test_dense_spn_original_options():
    x = [spn.RegionVariable(i) for i in range(4)]
    root = spn.RegionNode([spn.RegionNode(x[:2]), spn.RegionNode(x[2:])])
    model = spn.region_graph_to_dense_spn(
        root,
        layers.IndicatorLeaf(num_components=2),
        iter([3, 2]),
        True,
        product_first=False,
        num_classes=4,
        with_root=True,
    )
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[3:] == ["DenseSum", "DenseProduct", "DenseSum", "DenseProduct", "DenseSum", "RootSum"]
    assert [layer.num_sums for layer in model.layers if type(layer) is layers.DenseSum] == [3, 2, 4]
    out = model(all_binary(4)).numpy()
    assert out.shape == (16, 4) and abs(np_logsumexp(out)) < 1e-5
    headless = spn.region_graph_to_dense_spn(root, layers.IndicatorLeaf(2), [2], with_root=False)
    assert type(headless.layers[-1]).__name__ == "DenseProduct"


def test_decomposition_missing_a_variable_raises():
    v = [spn.RegionVariable(i) for i in range(3)]
    with pytest.raises(ValueError, match="does not cover variables \\[2\\]"):
        spn.region_graph_to_dense_spn([spn.RegionNode(v), spn.RegionNode([v[0], v[1]])], layers.IndicatorLeaf(2), [2])


def test_too_few_sums_raise_and_endless_iterables_are_read_lazily():
    with pytest.raises(ValueError, match="needs 2 entries"):
        spn.region_graph_to_dense_spn(two_decompositions(), layers.IndicatorLeaf(2), [2])
    model = spn.region_graph_to_dense_spn(two_decompositions(), layers.IndicatorLeaf(2), itertools.cycle([2]))
    assert abs(np_logsumexp(model(all_binary(5)).numpy())) < 1e-5


@pytest.mark.parametrize("sum_op", ["grad", "em", "sample"])
@pytest.mark.parametrize("num_classes", [None, 3])
def test_compiled_region_graph_sums_to_one(sum_op, num_classes):
    keras.utils.set_random_seed(3)
    model = spn.region_graph_to_dense_spn(
        two_decompositions(),
        layers.IndicatorLeaf(2),
        [3, 2],
        return_weighted_child_logits=num_classes is not None,
        num_classes=num_classes,
        sum_op=sum_op,
    )
    log_p = model(all_binary(5).astype("float32")).numpy()
    assert log_p.shape == (32, num_classes or 1)
    assert abs(np_logsumexp(log_p)) < 1e-5
    # Not trivially uniform.
    assert np.ptp(np_logsumexp(log_p, axis=1)) > 1e-3


@pytest.mark.parametrize("num_vars, depth, num_decomps", [(4, 1, 2), (7, 2, 3), (6, 3, 2)])
def test_random_region_graphs_cover_all_variables_and_normalize(num_vars, depth, num_decomps):
    roots = spn.random_region_graph(num_vars, depth, num_decomps, seed=5)
    assert len(roots) == num_decomps
    assert all(root.variables == frozenset(range(num_vars)) for root in roots)
    model = spn.region_graph_to_dense_spn(roots, layers.IndicatorLeaf(2), itertools.repeat(2))
    assert abs(np_logsumexp(model(all_binary(num_vars).astype("float32")).numpy())) < 1e-5


def test_random_region_graph_is_seeded():
    first = [repr(r) for r in spn.random_region_graph(8, 2, 3, seed=9)]
    assert first == [repr(r) for r in spn.random_region_graph(8, 2, 3, seed=9)]
    assert first != [repr(r) for r in spn.random_region_graph(8, 2, 3, seed=10)]


@pytest.mark.parametrize("num_vars, depth", [(8, 2), (7, 2), (11, 3), (5, 4)])
def test_random_region_graph_halves_each_region(num_vars, depth):
    # RAT-SPN splits: every region splits its variables into halves (the first floor(n / 2) of the shuffled
    # order, then the rest) for `depth` levels; a region still holding several variables at the bottom is the
    # product of its single variables.
    def check(region, levels_left):
        if isinstance(region, spn.RegionVariable):
            return [region.index]
        parts = [check(child, levels_left - 1) for child in region.children]
        sizes = [len(part) for part in parts]
        if levels_left == 0:
            assert sizes == [1] * len(parts)
        else:
            n = sum(sizes)
            assert sizes == [n // 2, n - n // 2], (region, levels_left)
        return [v for part in parts for v in part]

    for root in spn.random_region_graph(num_vars, depth, 2, seed=3):
        assert sorted(check(root, depth)) == list(range(num_vars))


def test_region_graph_model_trains_with_em_and_round_trips(tmp_path):
    keras.utils.set_random_seed(4)
    data = (np.random.rand(300, 5) < [0.1, 0.8, 0.5, 0.3, 0.9]).astype("float32")
    data[:, 1] = data[:, 0]
    model = spn.region_graph_to_dense_spn(two_decompositions(), layers.IndicatorLeaf(2), [3, 3], sum_op="em")
    before = model.log_likelihood(data).mean()
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=1.0))
    model.fit(data, batch_size=300, epochs=5, verbose=0)
    after = model.log_likelihood(data).mean()
    assert after > before + 0.1
    model.save(tmp_path / "region.keras")
    loaded = keras.models.load_model(tmp_path / "region.keras")
    np.testing.assert_allclose(loaded(data).numpy(), model(data).numpy(), rtol=1e-6)


@pytest.mark.parametrize("num_classes", [None, 3])
def test_build_rat_spn_normalizes(num_classes):
    keras.utils.set_random_seed(2)
    model = models.build_rat_spn(6, 2, 3, 3, 4, num_classes=num_classes)
    out = model(all_binary(6)).numpy()
    assert out.shape == (64, 1 if num_classes is None else num_classes)
    assert abs(np_logsumexp(out)) < 1e-5


def test_build_rat_spn_with_a_continuous_leaf_takes_float_input():
    """An int32 input (the default for indicator leaves) would truncate continuous values before the leaf."""
    keras.utils.set_random_seed(4)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    model = models.build_rat_spn(4, 1, 2, 2, 2, leaf=layers.NormalLeaf(num_components=2))
    assert model.inputs[0].dtype == "float32"
    exact = keras.Sequential([keras.Input((4,), dtype="float32"), *model.layers])
    np.testing.assert_allclose(model.predict(x, verbose=0), exact.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert models.build_rat_spn(4, 1, 2, 2, 2).inputs[0].dtype == "int32"
    explicit = models.build_rat_spn(4, 1, 2, 2, 2, leaf=layers.NormalLeaf(num_components=2), input_dtype="float64")
    assert explicit.inputs[0].dtype == "float64"


def test_build_rat_spn_rejects_too_deep_structures():
    with pytest.raises(ValueError, match="lower the depth"):
        models.build_rat_spn(3, 4, 1, 2, 2)


def test_dense_stacks_refuse_elementwise_regions():
    # DenseProduct multiplies its children's nodes in every combination: an elementwise region would silently get
    # outer products (another model, with more parameters) where compile_region_graph builds what it says.
    x0, x1 = spn.RegionVariable(0), spn.RegionVariable(1)
    root = spn.RegionNode([x0, x1], product="elementwise")
    with pytest.raises(ValueError, match="product='elementwise'.*compile_region_graph"):
        spn.region_graph_to_dense_spn(root, leaf_node=layers.IndicatorLeaf(2), num_sums_iterable=[2])
    model = models.compile_region_graph(root, layers.IndicatorLeaf(2), num_sums=2, num_input_sums=2)
    joint = all_binary(2)
    np.testing.assert_allclose(np.exp(np_logsumexp(model.predict(joint, verbose=0).ravel())), 1.0, atol=1e-6)
