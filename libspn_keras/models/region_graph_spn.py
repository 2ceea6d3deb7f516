"""SPN models from region graphs: the dense stack of 0.6.0, and the level-by-level compiler for any DAG."""

from tensorflow import keras

from libspn_keras.layers.base_leaf import check_leaf
from libspn_keras.layers.dense_product import DenseProduct
from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.flat_to_regions import FlatToRegions
from libspn_keras.layers.permute_and_pad_scopes import PermuteAndPadScopes
from libspn_keras.layers.root_sum import RootSum
from libspn_keras.layers.undecompose import Undecompose
from libspn_keras.layers.validation import check_bool, check_int
from libspn_keras.models.sequential_sum_product_network import SequentialSumProductNetwork
from libspn_keras.region_graph import RegionNode, as_roots, covered_variables, region_graph_layout
from libspn_keras.structure.compiled_region_graph import CompiledRegionGraph

_NAME = "region_graph_to_dense_spn"


def _sum_counts(num_sums_iterable, needed):
    """The next ``needed`` entries of ``num_sums_iterable`` (never more: it may be endless)."""
    iterator = iter(num_sums_iterable)
    counts = []
    for _ in range(needed):
        try:
            counts.append(next(iterator))
        except StopIteration:
            raise ValueError(
                f"{_NAME}: this region graph needs {needed} entries in num_sums_iterable (one per sum layer, "
                f"bottom first), got only {len(counts)}; pass more, or e.g. itertools.cycle([2])."
            ) from None
    return counts


def region_graph_to_dense_spn(
    region_graph_root,
    leaf_node=None,
    num_sums_iterable=None,
    return_weighted_child_logits=False,
    logspace_accumulators=False,
    accumulator_initializer=None,
    linear_accumulator_constraint=None,
    product_first=True,
    num_classes=None,
    with_root=True,
    sum_op=None,
    *,
    leaf=None,
    input_dims=1,
    **sum_kwargs,
):
    """Compiles a tree-shaped region graph into a dense SPN, as libspn-keras 0.6.0 did.

    The stack is ``FlatToRegions -> leaf_node -> PermuteAndPadScopes``, then
    (with ``product_first=False``) a ``DenseSum``, then for every level of
    the tree a ``DenseProduct`` with a ``DenseSum`` between consecutive
    products, then an optional ``DenseSum(num_classes)`` and the
    ``RootSum``. Levels are counted from the root; regions with fewer
    children than others at their depth are padded with marginalized scopes
    (see :func:`libspn_keras.region_graph.region_graph_layout`).
    Several roots (a list) are decompositions side by side on the
    ``decomps`` axis.

    Args:
        region_graph_root: A :class:`~libspn_keras.region_graph.RegionNode`,
            or a list of them over the same variables.
        leaf_node: Leaf layer instance (e.g. ``NormalLeaf(num_components=4)``);
            ``leaf=`` is accepted as well.
        num_sums_iterable: Sums per region of every sum layer, bottom first;
            any iterable, read only as far as needed (``itertools.cycle([2])``).
        return_weighted_child_logits: Passed to the ``RootSum``.
        logspace_accumulators: Whether the accumulators are in log space
            (0.6.0's default ``False``; ``None`` takes the sum op's default).
        accumulator_initializer: Initializer of every sum layer.
        linear_accumulator_constraint: Constraint of linear accumulators.
        product_first: If ``False`` the leaf components first get a ``DenseSum``.
        num_classes: If given, a ``DenseSum(num_classes)`` below the root
            (after ``Undecompose`` for several decompositions), for class
            roots: the model returns them with
            ``return_weighted_child_logits=True``; with ``False`` (the default)
            the ``RootSum`` mixes them into ``log p(x)``, as latent sums.
        with_root: Whether the ``RootSum`` ends the stack.
        sum_op: Sum op of every sum layer (``None``: the global default).
        leaf: Alias of ``leaf_node``.
        input_dims: Dimensions per variable (``d`` of the leaf input).
        **sum_kwargs: More sum-layer arguments (``accumulator_regularizer``, ...).

    Returns:
        A :class:`~libspn_keras.models.SequentialSumProductNetwork` taking
        ``[batch, num_vars]`` (or ``[batch, num_vars, d]`` when ``input_dims > 1``).
    """
    roots = as_roots(region_graph_root, _NAME)
    if not all(isinstance(root, RegionNode) for root in roots):
        raise ValueError(f"{_NAME}: region_graph_root must be a RegionNode or a list of RegionNodes.")
    leaf_node = leaf_node if leaf_node is not None else leaf
    if leaf_node is None:
        raise ValueError(f"{_NAME}: pass the leaf layer as leaf_node= (e.g. layers.IndicatorLeaf(num_components=2)).")
    leaf_node = check_leaf(_NAME, leaf_node)
    num_classes = check_int(_NAME, "num_classes", num_classes, minimum=1, allow_none=True)
    if num_sums_iterable is None:
        raise ValueError(f"{_NAME}: pass num_sums_iterable, e.g. [4, 4] or itertools.cycle([2]).")
    num_vars = covered_variables(roots, _NAME, "decomposition")
    product_first = check_bool(_NAME, "product_first", product_first)
    with_root = check_bool(_NAME, "with_root", with_root)
    input_dims = check_int(_NAME, "input_dims", input_dims, minimum=1)
    factors, permutations = region_graph_layout(roots)
    sum_kwargs.update(
        sum_op=sum_op,
        logspace_accumulators=logspace_accumulators,
        accumulator_initializer=accumulator_initializer,
        linear_accumulator_constraint=linear_accumulator_constraint,
    )
    counts = iter(_sum_counts(num_sums_iterable, len(factors) - 1 + (0 if product_first else 1)))
    stack = [
        keras.Input(shape=(num_vars,) if input_dims == 1 else (num_vars, input_dims)),
        FlatToRegions(num_decomps=len(roots)),
        leaf_node,
        PermuteAndPadScopes(permutations),
    ]
    if not product_first:
        stack.append(DenseSum(num_sums=next(counts), **sum_kwargs))
    for level, factor in enumerate(factors):
        stack.append(DenseProduct(num_factors=factor))
        if level < len(factors) - 1:
            stack.append(DenseSum(num_sums=next(counts), **sum_kwargs))
    if num_classes is not None:
        if len(roots) > 1:
            stack.append(Undecompose())
        stack.append(DenseSum(num_sums=num_classes, **sum_kwargs))
    if with_root:
        stack.append(RootSum(return_weighted_child_logits=return_weighted_child_logits, **sum_kwargs))
    return SequentialSumProductNetwork(stack)


def compile_region_graph(
    region_graph, leaf, num_sums, num_input_sums=None, num_classes=None, input_dims=1, input_dtype=None, **sum_kwargs
):
    """Compiles any region graph (a DAG: several partitions per region, shared regions, uneven depths) into an SPN.

    The stack is ``FlatToRegions(1) -> leaf -> [DenseSum(num_input_sums)]
    -> CompiledRegionGraph -> [RootSum]``: every region gets ``num_sums``
    sums over the products of its partitions, computed level by level (see
    :class:`~libspn_keras.structure.CompiledRegionGraph`), so the cost grows
    with the number of edges rather than with width x depth.

    Args:
        region_graph: A :class:`~libspn_keras.region_graph.RegionNode` or a
            list of roots over the variables ``0 .. n-1``.
        leaf: Leaf layer instance; its components are the variables' nodes
            unless ``num_input_sums`` is given.
        num_sums: Sums per region below the root.
        num_input_sums: Optional sums over the leaf components of every
            variable (e.g. ``K`` categorical distributions over the indicators
            of a discrete variable).
        num_classes: ``None`` for density estimation (output ``log p(x)``,
            ``[batch, 1]``); else the root region gets one sum per class and a
            ``RootSum`` returns the per-class joint logits.
        input_dims: Dimensions per variable (``d`` of the leaf input).
        input_dtype: Dtype of the model input (default ``keras.config.floatx()``, float32 unless set).
        **sum_kwargs: Passed to every sum layer (``sum_op``, ``logspace_accumulators``, ...).

    Returns:
        A :class:`~libspn_keras.models.SequentialSumProductNetwork`.
    """
    owner = "compile_region_graph"
    roots = as_roots(region_graph, owner)
    leaf = check_leaf(owner, leaf)
    num_sums = check_int(owner, "num_sums", num_sums, minimum=1)
    num_input_sums = check_int(owner, "num_input_sums", num_input_sums, minimum=1, allow_none=True)
    num_classes = check_int(owner, "num_classes", num_classes, minimum=1, allow_none=True)
    input_dims = check_int(owner, "input_dims", input_dims, minimum=1)
    num_vars = max(max(root.variables) for root in roots) + 1
    stack = [
        keras.Input(shape=(num_vars,) if input_dims == 1 else (num_vars, input_dims), dtype=input_dtype),
        FlatToRegions(num_decomps=1),
        leaf,
    ]
    if num_input_sums is not None:
        stack.append(DenseSum(num_sums=num_input_sums, **sum_kwargs))
    stack.append(CompiledRegionGraph(roots, num_sums=num_sums, num_root_sums=num_classes or 1, **sum_kwargs))
    if num_classes is not None:
        stack.append(RootSum(return_weighted_child_logits=True, **sum_kwargs))
    return SequentialSumProductNetwork(stack)
