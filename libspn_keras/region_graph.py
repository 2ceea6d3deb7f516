"""Region graphs and their compilation into dense SPN layers.

A region is a set of variables (its scope). A :class:`RegionNode` splits its
scope into the disjoint scopes of its children; a :class:`RegionVariable` is
a single variable. A region graph with several decompositions is a list of
root regions over the same variables: each root is one way of splitting all
variables, i.e. one decomposition (repetition) of the dense layers.
"""

import numpy as np
from tensorflow import keras

from libspn_keras.layers.dense_product import DenseProduct
from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.flat_to_regions import FlatToRegions
from libspn_keras.layers.permute_and_pad_scopes import PermuteAndPadScopes
from libspn_keras.layers.root_sum import RootSum
from libspn_keras.layers.undecompose import Undecompose
from libspn_keras.models.sequential_sum_product_network import SequentialSumProductNetwork


class RegionVariable:
    """The region of a single input variable.

    Args:
        index: Position of the variable in the input, ``>= 0``.
    """

    def __init__(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"RegionVariable: index must be an int >= 0, got {index!r}.")
        self.index = int(index)
        self.scope = frozenset([self.index])
        self.height = 0

    def __repr__(self):
        return f"RegionVariable({self.index})"


class RegionNode:
    """A region whose scope is the disjoint union of its children's scopes.

    Args:
        children: ``RegionNode`` or ``RegionVariable`` objects with pairwise
            disjoint scopes (decomposability).
    """

    def __init__(self, children):
        children = list(children)
        if not children:
            raise ValueError("RegionNode: needs at least one child region.")
        for child in children:
            if not isinstance(child, (RegionNode, RegionVariable)):
                raise ValueError(f"RegionNode: children must be RegionNode or RegionVariable, got {child!r}.")
        scope = set()
        for child in children:
            overlap = scope & child.scope
            if overlap:
                raise ValueError(
                    f"RegionNode: child scopes overlap on variables {sorted(overlap)}; the children of a region "
                    f"must cover disjoint variables (a product of overlapping scopes is not decomposable). Put "
                    f"alternative splits of the same variables in separate decompositions instead."
                )
            scope |= child.scope
        self.children = children
        self.scope = frozenset(scope)
        self.height = 1 + max(child.height for child in children)

    def __repr__(self):
        return f"RegionNode({self.children!r})"


def _children_at_level(region, level):
    """Children of ``region`` one level down; a region lower than ``level`` passes through unchanged."""
    if region is None:
        return []
    if region.height < level:
        return [region]
    return region.children


def region_graph_layout(roots):
    """Product factors per level (bottom first) and the leaf-level permutation ``[decomps, scopes]``.

    Regions at the same level are padded to the same number of children, so
    every decomposition fits one stack of dense layers; ``-1`` marks a
    padding scope.
    """
    height = max(root.height for root in roots)
    per_decomp = [[root] for root in roots]
    factors = []
    for level in range(height, 0, -1):
        arity = max(len(_children_at_level(region, level)) for regions in per_decomp for region in regions)
        factors.append(arity)
        per_decomp = [
            [
                child
                for region in regions
                for child in _children_at_level(region, level)
                + [None] * (arity - len(_children_at_level(region, level)))
            ]
            for regions in per_decomp
        ]
    permutations = np.array([[-1 if v is None else v.index for v in regions] for regions in per_decomp])
    return factors[::-1], permutations


def region_graph_to_dense_spn(
    region_graph_root, leaf, num_sums_iterable, return_weighted_child_logits=False, input_dims=1, **sum_kwargs
):
    """Compiles a region graph into a :class:`~libspn_keras.models.SequentialSumProductNetwork` of dense layers.

    The stack is ``FlatToRegions -> leaf -> PermuteAndPadScopes`` followed, for
    every level of the graph, by ``DenseProduct`` and ``DenseSum``, then
    ``RootSum``. With several decompositions and
    ``return_weighted_child_logits=True`` the decompositions are folded by
    ``Undecompose`` and mixed by one more ``DenseSum`` so the root outputs one
    logit per class.

    Args:
        region_graph_root: A :class:`RegionNode`, or a list of them for several
            decompositions; each must cover the variables ``0 .. n-1``.
        leaf: A leaf layer instance (e.g. ``IndicatorLeaf(num_components=2)``).
        num_sums_iterable: Number of sums after each product level, bottom
            first; the last entry is the number of classes when returning logits.
        return_weighted_child_logits: Passed to the ``RootSum``.
        input_dims: Dimensions per variable (``d`` of the leaf input).
        **sum_kwargs: Passed to every sum layer (``sum_op``, ``logspace_accumulators``, ...).

    Returns:
        A ``SequentialSumProductNetwork`` taking ``[batch, num_vars]`` (or
        ``[batch, num_vars, d]`` when ``input_dims > 1``).
    """
    roots = list(region_graph_root) if isinstance(region_graph_root, (list, tuple)) else [region_graph_root]
    if not roots or not all(isinstance(root, RegionNode) for root in roots):
        raise ValueError("region_graph_to_dense_spn: region_graph_root must be a RegionNode or a list of RegionNodes.")
    num_vars = max(max(root.scope) for root in roots) + 1
    for index, root in enumerate(roots):
        missing = sorted(set(range(num_vars)) - root.scope)
        if missing:
            raise ValueError(
                f"region_graph_to_dense_spn: decomposition {index} does not cover variables {missing}; every "
                f"decomposition must cover all {num_vars} variables."
            )
    factors, permutations = region_graph_layout(roots)
    num_sums = list(num_sums_iterable)
    if len(num_sums) != len(factors):
        raise ValueError(
            f"region_graph_to_dense_spn: the region graph has {len(factors)} product levels, so "
            f"num_sums_iterable needs {len(factors)} entries (got {len(num_sums)})."
        )
    input_shape = (num_vars,) if input_dims == 1 else (num_vars, input_dims)
    stack = [
        keras.Input(shape=input_shape),
        FlatToRegions(num_decomps=len(roots)),
        leaf,
        PermuteAndPadScopes(permutations),
    ]
    for factor, sums in zip(factors, num_sums):
        stack += [DenseProduct(num_factors=factor), DenseSum(num_sums=sums, **sum_kwargs)]
    if return_weighted_child_logits and len(roots) > 1:
        stack += [Undecompose(), DenseSum(num_sums=num_sums[-1], **sum_kwargs)]
    stack.append(RootSum(return_weighted_child_logits=return_weighted_child_logits, **sum_kwargs))
    return SequentialSumProductNetwork(stack)


def random_region_graph(num_vars, depth, num_decomps, seed=None):
    """Random binary splits in the manner of RAT-SPNs: one root per decomposition.

    Each decomposition shuffles the variables and halves them recursively
    ``depth`` times; a region left with several variables at the bottom is the
    product of its variables.

    Args:
        num_vars: Number of variables.
        depth: Number of binary splits from the root.
        num_decomps: Number of decompositions (repetitions).
        seed: Optional int; by default NumPy's global state (set by
            ``keras.utils.set_random_seed``).

    Returns:
        A list of ``num_decomps`` :class:`RegionNode` roots.
    """
    if num_vars < 2:
        raise ValueError(f"random_region_graph: needs at least 2 variables, got {num_vars}.")
    rng = np.random.default_rng(seed if seed is not None else np.random.randint(2**31 - 1))

    def split(variables, levels_left):
        if len(variables) == 1:
            return RegionVariable(variables[0])
        if levels_left == 0:
            return RegionNode([RegionVariable(v) for v in variables])
        half = len(variables) // 2
        return RegionNode([split(variables[:half], levels_left - 1), split(variables[half:], levels_left - 1)])

    return [split(rng.permutation(num_vars).tolist(), depth) for _ in range(num_decomps)]
