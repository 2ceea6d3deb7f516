"""keras.layers.Concatenate in the build-time scope checks: nested joins, joins along nodes, joins of different
inputs, of SpatialToRegions outputs and along decompositions; every network that builds sums to 1 over all joint
assignments (with random weights), every refused one would not."""

import itertools

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers


def _root():
    return layers.RootSum(return_weighted_child_logits=False)


def _region_leaf(x, decomps=1):
    return layers.IndicatorLeaf(num_components=2)(layers.FlatToRegions(num_decomps=decomps)(x))


def _total(model, shapes):
    """Total probability over all binary assignments of the inputs' ``shapes``, with random sum weights."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if getattr(layer, "accumulators", None) is not None:
            values = rng.normal(0, 2, layer.accumulators.shape)
            layer.accumulators.assign(values if layer.logspace_accumulators else np.exp(values))
    sizes = [int(np.prod(shape)) for shape in shapes]
    table = np.array(list(itertools.product([0, 1], repeat=sum(sizes))), dtype="int32")
    parts = np.split(table, np.cumsum(sizes)[:-1], axis=1)
    parts = [part.reshape((-1, *shape)) for part, shape in zip(parts, shapes)]
    log_p = np.asarray(model(parts if len(parts) > 1 else parts[0]), dtype=np.float64)
    return np.exp(log_p).sum()


def _conv(kernel_size, strides=1, **kwargs):
    return layers.Conv2DProduct(strides=strides, dilations=1, kernel_size=kernel_size, depthwise=True, **kwargs)


def test_a_nested_concatenation_of_one_variable_is_refused():
    # The inner join's record was made only when the outer one read it, after the outer one had found no source.
    x = keras.Input((1,), dtype="int32")
    leaf_out = _region_leaf(x)
    sums = [layers.DenseSum(num_sums=2)(leaf_out) for _ in range(3)]
    joined = keras.layers.Concatenate(axis=1)([keras.layers.Concatenate(axis=1)(sums[:2]), sums[2]])
    with pytest.raises(ValueError, match="ReduceProduct .*both cover scope 0.*not decomposable"):
        layers.ReduceProduct(num_factors=3)(joined)


def _mixture(leaf_out):
    """Two sums over the same cells joined along nodes: a mixture's children."""
    return keras.layers.Concatenate(axis=3)([layers.DenseSum(num_sums=2)(leaf_out) for _ in range(2)])


def test_a_concatenation_along_nodes_keeps_the_record_of_its_parts():
    x = keras.Input((2,), dtype="int32")
    products = layers.ReduceProduct(num_factors=2)(_mixture(_region_leaf(x, decomps=2)))
    # A product across the decompositions of the same variables: refused as without the join.
    with pytest.raises(ValueError, match="Conv2DProduct .*not decomposable"):
        _conv([1, 2])(products)
    # A product that skips a decomposition by its stride is valid; without the record it was refused.
    x = keras.Input((2,), dtype="int32")
    top = _conv([2, 1], strides=[1, 2])(_mixture(_region_leaf(x, decomps=3)))
    assert abs(_total(keras.Model(x, _root()(top)), [(2,)]) - 1) < 1e-5


def test_concatenations_of_two_inputs_keep_what_each_record_says():
    x, y = keras.Input((1, 1, 1), dtype="int32"), keras.Input((1, 1, 1), dtype="int32")
    cells = keras.layers.Concatenate(axis=2)([layers.IndicatorLeaf(2)(x), layers.IndicatorLeaf(2)(y)])
    with pytest.raises(ValueError, match="RootSum .*cover different parts"):  # a mixture of p(x) and p(y)
        _root()(cells)
    # Decompositions of the same variables, joined along rows: a product across them is refused.
    x, y = keras.Input((1,), dtype="int32"), keras.Input((1,), dtype="int32")
    joined = keras.layers.Concatenate(axis=1)([_region_leaf(x, decomps=2), _region_leaf(y, decomps=2)])
    products = layers.DenseSum(num_sums=2)(layers.ReduceProduct(num_factors=2)(layers.DenseSum(num_sums=2)(joined)))
    with pytest.raises(ValueError, match="Conv2DProduct .*not decomposable"):
        _conv([1, 2])(products)
    # Overlapping cells of one input's part (after padding='full') multiplied together.
    x, y = keras.Input((1, 2, 1), dtype="int32"), keras.Input((1, 2, 1), dtype="int32")

    def overlapping(image):
        return _conv([1, 2], padding="full")(layers.IndicatorLeaf(num_components=2)(image))

    joined = layers.Local2DSum(num_sums=2)(keras.layers.Concatenate(axis=1)([overlapping(x), overlapping(y)]))
    with pytest.raises(ValueError, match="Conv2DProduct .*not decomposable"):
        _conv([2, 3])(joined)


def test_valid_concatenations_of_two_inputs_build_and_are_normalized():
    # Two images side by side along rows, then joined cell by cell and to one scope.
    x, y = keras.Input((1, 2, 1), dtype="int32"), keras.Input((1, 2, 1), dtype="int32")
    cells = [layers.IndicatorLeaf(num_components=2)(image) for image in (x, y)]
    joined = layers.Local2DSum(num_sums=2)(keras.layers.Concatenate(axis=1)(cells))
    top = _conv([1, 2])(layers.Local2DSum(num_sums=2)(_conv([2, 1])(joined)))
    model = keras.Model([x, y], _root()(layers.SpatialToRegions()(top)))
    assert abs(_total(model, [(1, 2, 1), (1, 2, 1)]) - 1) < 1e-5
    # Three inputs, a join of two joined with the third.
    inputs = [keras.Input((1,), dtype="int32") for _ in range(3)]
    leaves = [_region_leaf(x) for x in inputs]
    joined = keras.layers.Concatenate(axis=1)([keras.layers.Concatenate(axis=1)(leaves[:2]), leaves[2]])
    top = layers.ReduceProduct(num_factors=3)(layers.DenseSum(num_sums=2)(joined))
    model = keras.Model(inputs, _root()(layers.DenseSum(num_sums=2)(top)))
    assert abs(_total(model, [(1,)] * 3) - 1) < 1e-5


def test_a_spatial_to_regions_output_joined_with_its_input_is_refused():
    x = keras.Input((2,), dtype="int32")
    both = layers.ReduceProduct(num_factors=2)(layers.DenseSum(num_sums=2)(_region_leaf(x)))  # scope {x0, x1}
    joined = keras.layers.Concatenate(axis=1)([layers.SpatialToRegions()(both), both])
    with pytest.raises(ValueError, match="ReduceProduct .*both cover scopes 0-1.*not decomposable"):
        layers.ReduceProduct(num_factors=2)(layers.DenseSum(num_sums=2)(joined))


def test_rows_in_two_orders_joined_along_decompositions_are_checked_by_decomposition():
    x = keras.Input((2,), dtype="int32")
    leaf_out = _region_leaf(x)
    columns = keras.layers.Concatenate(axis=2)([leaf_out, layers.PermuteAndPadScopes([[1, 0]])(leaf_out)])
    products = layers.ReduceProduct(num_factors=2)(layers.DenseSum(num_sums=2)(columns))
    with pytest.raises(ValueError, match="Conv2DProduct .*not decomposable"):  # x0 x1 times x1 x0
        _conv([1, 2])(products)
    # Each column is a decomposition of both variables: a mixture of the two builds and is normalized.
    model = keras.Model(x, _root()(layers.SpatialToRegions()(layers.DenseSum(num_sums=2)(products))))
    assert abs(_total(model, [(2,)]) - 1) < 1e-5


def test_padding_an_image_before_the_leaf_is_refused():
    x = keras.Input((1, 1, 1), dtype="int32")
    with pytest.raises(ValueError, match="PermuteAndPadScopes .*before the leaf"):
        layers.PermuteAndPadScopes([[0, -1]])(x)


def test_sums_over_nodes_of_different_scopes_joined_along_nodes_are_refused():
    x = keras.Input((2,), dtype="int32")
    leaf_out = _region_leaf(x)  # rows x0, x1
    swapped = layers.PermuteAndPadScopes([[1, 0]])(leaf_out)  # rows x1, x0
    nodes = keras.layers.Concatenate(axis=3)([leaf_out, swapped])  # each row holds nodes of x0 and of x1
    with pytest.raises(ValueError, match="DenseSum .*Concatenate along nodes .*different scopes"):
        layers.DenseSum(num_sums=2)(nodes)
    # Through a layer that keeps the cells, and for two inputs: a mixture of p(x) and p(y) at the root.
    with pytest.raises(ValueError, match="Local2DSum .*different scopes"):
        layers.Local2DSum(num_sums=2)(layers.LogDropout(0.1)(nodes))
    x, y = keras.Input((1, 1, 1), dtype="int32"), keras.Input((1, 1, 1), dtype="int32")
    both = keras.layers.Concatenate(axis=3)([layers.IndicatorLeaf(2)(x), layers.IndicatorLeaf(2)(y)])
    with pytest.raises(ValueError, match="RootSum .*different scopes"):
        _root()(both)


def test_a_mixture_of_towers_over_the_same_input_builds_and_is_normalized():
    # One tower reads the input through a layer of another library: the join cannot tell its variables, so it is
    # not refused (each tower covers both variables, and the root's mixture is a distribution).
    x = keras.Input((2,), dtype="int32")

    def tower(values):
        leaf_out = layers.IndicatorLeaf(num_components=2)(layers.FlatToRegions(num_decomps=1)(values))
        return layers.ReduceProduct(num_factors=2)(layers.DenseSum(num_sums=2)(leaf_out))

    towers = [tower(x), tower(x), tower(keras.layers.Lambda(lambda values: values)(x))]
    model = keras.Model(x, _root()(keras.layers.Concatenate(axis=3)(towers)))
    assert abs(_total(model, [(2,)]) - 1) < 1e-5


def test_mixtures_of_towers_joined_in_different_orders_build_and_are_normalized():
    # Each tower covers the same variables; the joins below them differ (two Concatenates of x and y in either
    # order, or per-decomposition permutations): nothing mixes scopes.
    x, y = keras.Input((1,), dtype="int32"), keras.Input((1,), dtype="int32")
    leaves = [_region_leaf(x), _region_leaf(y)]
    towers = [
        layers.ReduceProduct(num_factors=2)(layers.DenseSum(num_sums=2)(keras.layers.Concatenate(axis=1)(order)))
        for order in (leaves, leaves[::-1])
    ]
    model = keras.Model([x, y], _root()(keras.layers.Concatenate(axis=3)(towers)))
    assert abs(_total(model, [(1,), (1,)]) - 1) < 1e-5
    x = keras.Input((2,), dtype="int32")
    leaf_out = _region_leaf(x, decomps=2)
    towers = [
        layers.ReduceProduct(num_factors=2)(layers.DenseSum(num_sums=2)(tensor))
        for tensor in (leaf_out, layers.PermuteAndPadScopes([[0, 1], [1, 0]])(leaf_out))
    ]
    mixture = layers.DenseSum(num_sums=2)(keras.layers.Concatenate(axis=3)(towers))
    model = keras.Model(x, _root()(layers.Undecompose()(mixture)))
    assert abs(_total(model, [(2,)]) - 1) < 1e-5


def test_joins_of_an_image_input_and_a_region_input_are_checked():
    x, y = keras.Input((1, 1, 1), dtype="int32"), keras.Input((1,), dtype="int32")
    image_cells, region_cells = layers.IndicatorLeaf(2)(x), _region_leaf(y)
    with pytest.raises(ValueError, match="RootSum .*different scopes"):  # a mixture of p(x) and p(y)
        _root()(keras.layers.Concatenate(axis=3)([image_cells, region_cells]))
    rows = keras.layers.Concatenate(axis=1)([region_cells, region_cells, image_cells])  # y, y, x
    with pytest.raises(ValueError, match="ReduceProduct .*not decomposable"):
        layers.ReduceProduct(num_factors=3)(layers.DenseSum(num_sums=2)(rows))


def test_image_columns_whose_rows_differ_are_joined_with_bounded_cells():
    x = keras.Input((2, 1, 1), dtype="int32")
    cells = layers.IndicatorLeaf(num_components=2)(x)  # rows x0, x1
    columns = keras.layers.Concatenate(axis=2)([cells, layers.PermuteAndPadScopes([[1, 0]])(cells)])
    with pytest.raises(ValueError, match="Conv2DProduct .*not decomposable"):  # x0 x1 x1 x0
        _conv([2, 2])(layers.Local2DSum(num_sums=2)(columns))
    with pytest.raises(ValueError, match="SpatialToRegions .*Concatenate .*only bounded"):
        layers.SpatialToRegions()(columns)


def test_a_spatial_to_regions_output_of_an_image_joined_with_its_input_is_refused():
    x = keras.Input((2, 1, 1), dtype="int32")
    both = _conv([2, 1])(layers.Local2DSum(num_sums=2)(layers.IndicatorLeaf(num_components=2)(x)))  # {x0, x1}
    joined = keras.layers.Concatenate(axis=1)([layers.SpatialToRegions()(layers.Local2DSum(num_sums=2)(both)), both])
    with pytest.raises(ValueError, match="ReduceProduct .*not decomposable"):
        layers.ReduceProduct(num_factors=2)(joined)
    # The mark of a node join of p(x) and p(y) passes a SpatialToRegions too.
    x, y = keras.Input((1,), dtype="int32"), keras.Input((1,), dtype="int32")
    nodes = keras.layers.Concatenate(axis=3)([_region_leaf(x), _region_leaf(y)])
    with pytest.raises(ValueError, match="RootSum .*different scopes"):
        _root()(layers.SpatialToRegions()(nodes))
