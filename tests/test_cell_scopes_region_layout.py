"""Region tensors, PermuteAndPadScopes and Undecompose groups in the build-time scope checks."""

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers


def _root():
    return layers.RootSum(return_weighted_child_logits=False)


def _conv(kernel_size, **kwargs):
    return layers.Conv2DProduct(strides=[1, 1], dilations=[1, 1], kernel_size=kernel_size, **kwargs)


@pytest.mark.parametrize(
    "stack, refusing",
    [
        # SpatialToRegions over the 2 scopes of a region tensor: the root would sum to 2.
        (
            lambda: [
                keras.Input((2,)),
                layers.FlatToRegions(1),
                layers.IndicatorLeaf(2),
                layers.SpatialToRegions(),
                _root(),
            ],
            "SpatialToRegions",
        ),
        # A product across the decompositions of the same variables: not decomposable.
        (
            lambda: [
                keras.Input((2,)),
                layers.FlatToRegions(2),
                layers.IndicatorLeaf(2),
                layers.DenseSum(2),
                layers.ReduceProduct(2),
                _conv([1, 2], depthwise=True),
                _root(),
            ],
            "Conv2DProduct",
        ),
        # The same after different permutations per decomposition (each output row stands for itself).
        (
            lambda: [
                keras.Input((2,)),
                layers.FlatToRegions(2),
                layers.IndicatorLeaf(2),
                layers.DenseSum(2),
                layers.PermuteAndPadScopes([[0, 1], [1, 0]]),
                _conv([1, 2], depthwise=True),
                layers.ReduceProduct(2),
                _root(),
            ],
            "Conv2DProduct",
        ),
        # PermuteAndPadScopes on an image must not drop the columns' cells: the root would sum to 2.
        (
            lambda: [keras.Input((1, 2, 1)), layers.IndicatorLeaf(2), layers.PermuteAndPadScopes([[0], [0]]), _root()],
            "RootSum",
        ),
        (
            lambda: [
                keras.Input((2, 2, 1)),
                layers.IndicatorLeaf(2),
                layers.PermuteAndPadScopes([[0, 1], [1, 0]]),
                layers.ReduceProduct(2),
                layers.SpatialToRegions(),
                _root(),
            ],
            "PermuteAndPadScopes",
        ),
        # Padding scopes before the leaf: the leaf would read their 0 as an observed value.
        (
            lambda: [
                keras.Input((3,)),
                layers.FlatToRegions(2),
                layers.PermuteAndPadScopes([[2, 0, 1, -1], [1, -1, 0, 2]]),
                layers.IndicatorLeaf(2),
                layers.DenseProduct(2),
                layers.DenseProduct(2),
                layers.Undecompose(),
                _root(),
            ],
            "PermuteAndPadScopes",
        ),
        # Undecompose(num_decomps=cols) joins nothing; the root above must still see the different columns.
        (lambda: [keras.Input((1, 3, 1)), layers.IndicatorLeaf(2), layers.Undecompose(3), _root()], "RootSum"),
    ],
)
def test_refuses_networks_that_are_not_normalized(stack, refusing):
    with pytest.raises(
        ValueError, match=f"{refusing} '.*'.*(not decomposable|cover different parts|differ between|before the leaf)"
    ):
        keras.Sequential(stack())


def _total_and_marginal(model, shape):
    n = int(np.prod(shape))
    x = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).reshape((-1,) + shape).astype("float32")
    lp = model(x).numpy().astype(np.float64).reshape(-1)
    return np.log(np.exp(lp - lp.max()).sum()) + lp.max(), model(np.full((1,) + shape, np.nan, "float32")).numpy()


@pytest.mark.parametrize(
    "stack,shape",
    [
        # Products along the scopes of a region tensor, then Undecompose over its decompositions.
        (
            lambda: [
                keras.Input((2,)),
                layers.FlatToRegions(2),
                layers.IndicatorLeaf(2),
                layers.DenseSum(2),
                layers.Conv2DProduct(strides=[2, 1], dilations=[1, 1], kernel_size=[2, 1]),
                layers.Undecompose(),
                _root(),
            ],
            (2,),
        ),
        # Undecompose with one column per group joins nothing; the columns are joined by a product above.
        (
            lambda: [
                keras.Input((1, 3, 1)),
                layers.IndicatorLeaf(2),
                layers.DenseSum(2),
                layers.Undecompose(3),
                layers.Conv2DProduct(strides=[1, 1], dilations=[1, 1], kernel_size=[1, 3], depthwise=True),
                _root(),
            ],
            (1, 3, 1),
        ),
        # The same permutation for every column keeps the image cells.
        (
            lambda: [
                keras.Input((2, 1, 1)),
                layers.IndicatorLeaf(2),
                layers.DenseSum(2),
                layers.PermuteAndPadScopes([[1, -1, 0, -1]]),
                layers.ReduceProduct(4),
                _root(),
            ],
            (2, 1, 1),
        ),
        # Permutations before the leaf, and a layer of another library between FlatToRegions and the leaf (which
        # then cannot tell the layout and records nothing): region SPNs all the same.
        (
            lambda: [
                keras.Input((4,)),
                layers.FlatToRegions(2),
                layers.PermuteAndPadScopes([[2, 0, 3, 1], [1, 3, 0, 2]]),
                layers.IndicatorLeaf(2),
                layers.DenseProduct(2),
                layers.DenseSum(2),
                layers.DenseProduct(2),
                layers.Undecompose(),
                _root(),
            ],
            (4,),
        ),
        (
            lambda: [
                keras.Input((3,)),
                layers.FlatToRegions(2),
                keras.layers.Identity(),
                layers.IndicatorLeaf(2),
                layers.PermuteAndPadScopesRandom(factors=[2, 2], seed=3),
                layers.DenseSum(2),
                layers.DenseProduct(2),
                layers.DenseSum(2),
                layers.DenseProduct(2),
                layers.Undecompose(),
                _root(),
            ],
            (3,),
        ),
        # RAT-SPN-style region SPNs with different permutations per decomposition.
        (
            lambda: [
                keras.Input((3,)),
                layers.FlatToRegions(3),
                layers.IndicatorLeaf(2),
                layers.DenseSum(2),
                layers.PermuteAndPadScopesRandom(factors=[2, 2], seed=1),
                layers.ReduceProduct(2),
                layers.DenseSum(2),
                layers.DenseProduct(2),
                layers.SpatialToRegions(),
                _root(),
            ],
            (3,),
        ),
        (
            lambda: [
                keras.Input((3,)),
                layers.FlatToRegions(2),
                layers.IndicatorLeaf(2),
                layers.DenseSum(2),
                layers.PermuteAndPadScopes([[2, 0, 1, -1], [1, -1, 0, 2]]),
                layers.DenseProduct(2),
                layers.DenseSum(2),
                layers.DenseProduct(2),
                layers.Undecompose(),
                _root(),
            ],
            (3,),
        ),
    ],
)
def test_builds_normalized_networks(stack, shape):
    model = keras.Sequential(stack())
    total, marginal = _total_and_marginal(model, shape)
    assert abs(total) < 1e-4 and np.abs(marginal).max() < 1e-4


def _flat_leaf(x, leaf=None):
    return (leaf or layers.IndicatorLeaf(num_components=2))(layers.FlatToRegions(num_decomps=1)(x))


@pytest.mark.parametrize("reuse", ["same_tensor", "same_leaf_twice", "two_leaves", "sum_between"])
def test_products_over_a_concatenation_of_the_same_variables_are_refused(reuse):
    # A keras.layers.Concatenate built without a record, so a product over a leaf output joined with itself (each
    # variable entering the product twice: not a normalized distribution) was built silently.
    x = keras.Input((2,), dtype="int32")
    if reuse == "same_tensor":
        leaf_out = _flat_leaf(x)
        parts = [leaf_out, leaf_out]
    elif reuse == "same_leaf_twice":
        leaf = layers.IndicatorLeaf(num_components=2)
        regions = layers.FlatToRegions(num_decomps=1)(x)
        parts = [leaf(regions), leaf(regions)]
    elif reuse == "two_leaves":  # each behind its own FlatToRegions of the same input
        parts = [_flat_leaf(x), _flat_leaf(x)]
    else:  # a sum layer keeps the joined record of the concatenation below it
        leaf_out = _flat_leaf(x)
        parts = [leaf_out, leaf_out]
    joined = keras.layers.Concatenate(axis=1)(parts)
    if reuse == "sum_between":
        joined = layers.DenseSum(num_sums=2)(joined)
    with pytest.raises(ValueError, match=r"ReduceProduct .*both cover scopes 0-1.*not decomposable.*Concatenate"):
        layers.ReduceProduct(num_factors=4)(joined)


def test_a_concatenation_of_two_inputs_builds_a_normalized_distribution_over_both():
    first, second = keras.Input((2,), dtype="int32"), keras.Input((2,), dtype="int32")
    leaf = layers.IndicatorLeaf(num_components=2)
    joined = keras.layers.Concatenate(axis=1)([_flat_leaf(first, leaf), _flat_leaf(second, leaf)])
    products = layers.ReduceProduct(num_factors=4)(layers.DenseSum(num_sums=3)(joined))
    root = layers.RootSum(return_weighted_child_logits=False)(layers.DenseSum(num_sums=2)(products))
    model = keras.Model([first, second], root)
    table = np.array(np.meshgrid(*[[0, 1]] * 4, indexing="ij")).reshape(4, -1).T.astype("int32")
    log_p = model.predict([table[:, :2], table[:, 2:]], verbose=0)
    np.testing.assert_allclose(np.exp(log_p).sum(), 1.0, rtol=1e-6)


def test_a_spatial_product_over_an_image_concatenated_with_itself_is_refused():
    image = keras.Input((2, 2, 1))
    cells = layers.NormalLeaf(num_components=2)(image)
    joined = keras.layers.Concatenate(axis=2)([cells, cells])  # [batch, 2, 4, 2]: columns 0-1 twice
    with pytest.raises(ValueError, match=r"Conv2DProduct .*not decomposable.*keras.layers.Concatenate"):
        _conv([1, 4], depthwise=True)(joined)


def _total_probability(model, num_vars, shape):
    table = np.array(np.meshgrid(*[[0, 1]] * num_vars, indexing="ij")).reshape(num_vars, -1).T.astype("int32")
    return np.exp(model.predict(table.reshape((-1, *shape)), verbose=0)).sum()


def test_concatenations_of_one_input_over_disjoint_or_stand_in_scopes_build_and_are_normalized():
    # Two halves of a 1x4 image joined along columns, with a sum between the join and the next product.
    image = keras.Input((1, 4, 1), dtype="int32")
    cells = layers.IndicatorLeaf(num_components=2)(image)

    def pairs():
        return layers.Conv2DProduct(strides=[1, 2], dilations=[1, 1], kernel_size=[1, 2], depthwise=True)

    def halves():
        return pairs()(layers.DenseSum(num_sums=2)(cells))

    joined = layers.DenseSum(num_sums=2)(keras.layers.Concatenate(axis=2)([halves(), halves()]))
    top = pairs()(joined)
    model = keras.Model(image, _root()(layers.SpatialToRegions()(top)))
    np.testing.assert_allclose(_total_probability(model, 4, (1, 4, 1)), 1.0, rtol=1e-6)
    # A branch of padded per-decomposition permutations (stand-in rows, 4 wide) joined with one of real rows (3
    # wide): the join keeps no record (numpy refused to join the two records before).
    x = keras.Input((3,), dtype="int32")
    leaf_out = layers.IndicatorLeaf(num_components=2)(layers.FlatToRegions(num_decomps=2)(x))
    permuted = layers.PermuteAndPadScopes([[2, 0, 1, -1], [1, -1, 0, 2]])(leaf_out)
    first = layers.ReduceProduct(num_factors=4)(layers.DenseSum(num_sums=2)(permuted))
    second = layers.ReduceProduct(num_factors=3)(layers.DenseSum(num_sums=2)(leaf_out))
    mixture = layers.SpatialToRegions()(keras.layers.Concatenate(axis=1)([first, second]))
    model = keras.Model(x, _root()(mixture))
    np.testing.assert_allclose(_total_probability(model, 3, (3,)), 1.0, rtol=1e-6)


def _leaf_and_permuted(permutations):
    """A 3-variable region input's leaf output (rows: variables 0-2), its per-decomposition permutation, and the
    input."""
    x = keras.Input((3,), dtype="int32")
    leaf_out = layers.IndicatorLeaf(num_components=2)(layers.FlatToRegions(num_decomps=2)(x))
    return x, leaf_out, layers.PermuteAndPadScopes(permutations)(leaf_out)


def _mixture_root(x, products):
    return keras.Model(x, _root()(layers.SpatialToRegions()(layers.DenseSum(num_sums=2)(products))))


@pytest.mark.parametrize(
    "permutations, regroup, match",
    [
        # Rows 0-2 are variables 0-2, rows 3-5 variables [1, 2, 0] in decomposition 0 and [0, 1, 2] in
        # decomposition 1: rows 1, 5, 2 hold variables 1, 2, 2 in decomposition 1.
        ([[1, 2, 0], [0, 1, 2]], [[1, 5, 2, 0, 3, 4]] * 2, "scope 2 in decomposition 1"),
        # A permutation of the join that differs by decomposition: rows 0, 1, 4 hold variable 1 twice in
        # decomposition 1.
        ([[1, 2, 0], [2, 1, 0]], [[0, 3, 4, 5, 1, 2], [0, 1, 4, 2, 3, 5]], "scope 1 in decomposition 1"),
    ],
)
def test_products_over_rows_joined_with_their_per_decomposition_permutation_are_checked_by_decomposition(
    permutations, regroup, match
):
    # Stand-in rows (a per-decomposition permutation) joined with the rows they came from kept no record, so such
    # products were built and the networks summed to 1.4-1.7.
    x, leaf_out, permuted = _leaf_and_permuted(permutations)
    joined = layers.PermuteAndPadScopes(regroup)(keras.layers.Concatenate(axis=1)([leaf_out, permuted]))
    with pytest.raises(ValueError, match=f"ReduceProduct .*both cover {match}.*not decomposable"):
        layers.ReduceProduct(num_factors=3)(joined)


def test_a_per_decomposition_permutation_joined_with_itself_is_refused():
    _, _, permuted = _leaf_and_permuted([[1, 2, 0], [2, 1, 0]])
    joined = keras.layers.Concatenate(axis=1)([permuted, permuted])
    with pytest.raises(ValueError, match="ReduceProduct .*both cover scopes? .* in decomposition 0.*not decomposable"):
        layers.ReduceProduct(num_factors=2)(layers.PermuteAndPadScopes([[0, 4, 1, 3, 2, 5]] * 2)(joined))


@pytest.mark.parametrize(
    "regroup",
    [
        None,  # the rows and their permutation as two whole products: a mixture of the two
        [[1, 5, 2, 0, 3, 4]] * 2,  # rows 1, 5, 2 hold variables 1, 0, 2 in both decompositions
        [[0, 3, 4, 5, 1, 2], [0, 1, 2, 3, 4, 5]],  # regrouped differently in each decomposition, each valid
    ],
)
def test_valid_products_over_rows_joined_with_their_per_decomposition_permutation_build_and_are_normalized(regroup):
    x, leaf_out, permuted = _leaf_and_permuted([[1, 2, 0], [2, 1, 0]])
    joined = keras.layers.Concatenate(axis=1)([leaf_out, permuted])
    if regroup is not None:
        joined = layers.PermuteAndPadScopes(regroup)(joined)
    model = _mixture_root(x, layers.ReduceProduct(num_factors=3)(layers.DenseSum(num_sums=2)(joined)))
    for layer in model.layers:  # weights away from uniform, so that a wrong structure cannot sum to 1 by chance
        layer.set_weights(
            [np.random.default_rng(0).uniform(-2, 2, w.shape).astype("float32") for w in layer.get_weights()]
        )
    np.testing.assert_allclose(_total_probability(model, 3, (3,)), 1.0, rtol=1e-5)
