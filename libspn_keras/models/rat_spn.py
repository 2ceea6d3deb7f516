"""Random tensorized SPNs (RAT-SPNs) in one call."""

import math

from tensorflow import keras

from libspn_keras.layers.base_leaf import check_leaf
from libspn_keras.layers.dense_product import DenseProduct
from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.flat_to_regions import FlatToRegions
from libspn_keras.layers.indicator_leaf import IndicatorLeaf
from libspn_keras.layers.permute_and_pad_scopes_random import PermuteAndPadScopesRandom
from libspn_keras.layers.reduce_product import ReduceProduct
from libspn_keras.layers.root_sum import RootSum
from libspn_keras.layers.undecompose import Undecompose
from libspn_keras.layers.validation import check_int, positive_int
from libspn_keras.models.sequential_sum_product_network import SequentialSumProductNetwork


def build_rat_spn(
    num_vars,
    depth,
    num_decomps,
    num_input_distributions,
    num_sums,
    leaf=None,
    num_classes=None,
    input_dtype=None,
    **sum_kwargs,
):
    """A RAT-SPN: random balanced binary splits of the variables, repeated ``num_decomps`` times.

    The stack is ``FlatToRegions -> leaf -> PermuteAndPadScopesRandom ->
    DenseSum(num_input_distributions) -> ReduceProduct(ceil(num_vars / 2**depth))``,
    then ``depth`` times ``DenseProduct(2) -> DenseSum``, then ``RootSum``.
    With ``num_classes`` the last ``DenseSum`` has ``num_classes`` sums per
    decomposition, followed by ``Undecompose -> DenseSum(num_classes)``
    before a ``RootSum`` that returns the class roots.
    Permuting before the input sums (rather than after, as the same model is
    often written by hand) moves the leaf's few components instead of the
    many input distributions; a padding scope's sums are marginalized (0)
    either way, so the distribution is the same.

    Args:
        num_vars: Number of input variables.
        depth: Number of binary product levels.
        num_decomps: Number of decompositions (repetitions).
        num_input_distributions: Sums over the leaf components per variable.
        num_sums: Sums per region at inner levels.
        leaf: Leaf layer; default ``IndicatorLeaf(num_components=2)`` for binary data.
        num_classes: ``None`` for density estimation (root returns ``log p(x)``);
            else the number of class roots (root returns per-class logits).
        input_dtype: Dtype of the model input; by default ``"int32"`` for an
            ``IndicatorLeaf`` (categories) and the leaf's compute dtype for any
            other leaf (``keras.config.floatx()`` unless the leaf was given a
            ``dtype``; float32 under a mixed policy), whose continuous values an
            integer input would truncate and a narrower float input would round.
        **sum_kwargs: Passed to every sum layer (``sum_op``, ``logspace_accumulators``, ...).

    Returns:
        A :class:`~libspn_keras.models.SequentialSumProductNetwork`.
    """
    num_vars = positive_int("build_rat_spn", "num_vars", num_vars)
    depth = positive_int("build_rat_spn", "depth", depth)
    num_decomps = positive_int("build_rat_spn", "num_decomps", num_decomps)
    num_input_distributions = positive_int("build_rat_spn", "num_input_distributions", num_input_distributions)
    num_sums = positive_int("build_rat_spn", "num_sums", num_sums)
    num_classes = check_int("build_rat_spn", "num_classes", num_classes, minimum=1, allow_none=True)
    leaf = check_leaf("build_rat_spn", leaf, allow_none=True)
    if depth < 1 or 2**depth > 2 * num_vars:
        raise ValueError(
            f"build_rat_spn: depth={depth} needs 1 <= 2**depth <= 2 * num_vars ({2 * num_vars}); lower the depth."
        )
    leaf = leaf if leaf is not None else IndicatorLeaf(num_components=2)
    if input_dtype is None:
        input_dtype = "int32" if isinstance(leaf, IndicatorLeaf) else leaf.compute_dtype
    top_sums = num_classes if num_classes is not None else 1
    stack = [
        keras.Input(shape=(num_vars,), dtype=input_dtype),
        FlatToRegions(num_decomps=num_decomps),
        leaf,
        PermuteAndPadScopesRandom(),
        DenseSum(num_sums=num_input_distributions, **sum_kwargs),
        ReduceProduct(num_factors=math.ceil(num_vars / 2**depth)),
    ]
    for level in range(depth):
        stack += [
            DenseProduct(num_factors=2),
            DenseSum(num_sums=top_sums if level == depth - 1 else num_sums, **sum_kwargs),
        ]
    if num_classes is not None and num_decomps > 1:
        stack += [Undecompose(), DenseSum(num_sums=num_classes, **sum_kwargs)]
    stack.append(RootSum(return_weighted_child_logits=num_classes is not None, **sum_kwargs))
    return SequentialSumProductNetwork(stack)
