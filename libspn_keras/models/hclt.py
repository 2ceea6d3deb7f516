"""Hidden Chow-Liu trees (HCLT, Liu & Van den Broeck 2021) in one call."""

import numpy as np
from tensorflow import keras

from libspn_keras import sum_ops
from libspn_keras.layers.indicator_leaf import IndicatorLeaf
from libspn_keras.layers.normal_leaf import NormalLeaf
from libspn_keras.layers.validation import check_float, check_int, positive_int
from libspn_keras.math.seeding import numpy_rng
from libspn_keras.models.region_graph_spn import compile_region_graph
from libspn_keras.region_graph import RegionNode
from libspn_keras.structure.chow_liu import (
    DATA_TYPES,
    category_count,
    checked_data,
    chow_liu_tree,
    hclt_region_graph,
)
from libspn_keras.sum_ops.base import CountingSumOpBase


def _gaussian_leaf(data, num_latents, use_accumulators):
    """Normal components per variable centred on evenly spaced quantiles, with the variable's spread.

    With ``use_accumulators`` (the EM sum ops) their locations and scales learn by EM, else by gradients.
    """
    quantiles = np.quantile(data, (np.arange(num_latents) + 0.5) / num_latents, axis=0).T  # [vars, K]
    scale = np.maximum(data.std(axis=0), 1e-3)[:, None] * np.ones_like(quantiles)
    shape = (data.shape[1], 1, num_latents, 1)
    return NormalLeaf(
        num_components=num_latents,
        location_initializer=keras.initializers.Constant(quantiles.reshape(shape).astype("float32")),
        scale_initializer=keras.initializers.Constant(scale.reshape(shape).astype("float32")),
        scale_trainable=True,
        use_accumulators=use_accumulators,
    )


def _bootstrap_trees(data, num_trees, data_type, num_categories, pseudocount, seed):
    """Parents of the Chow-Liu trees of ``data`` and of ``num_trees - 1`` bootstrap resamples of it."""
    rng = numpy_rng(seed) if num_trees > 1 else None
    trees = [chow_liu_tree(data, data_type, num_categories, pseudocount)]
    for _ in range(num_trees - 1):
        sample = data[rng.integers(0, len(data), len(data))]
        trees.append(chow_liu_tree(sample, data_type, num_categories, pseudocount))
    return trees


def build_hclt(
    data,
    num_latents,
    data_type=None,
    num_categories=None,
    sum_op="em",
    mutual_information_pseudocount=0.01,
    leaf=None,
    num_trees=1,
    seed=None,
    **sum_kwargs,
):
    """A hidden Chow-Liu tree SPN learned from ``data``, ready for ``compile``/``fit`` and every query.

    The Chow-Liu tree is the maximum spanning tree of the pairwise mutual
    information of the variables, rooted at its centre. Every variable
    ``X_v`` gets a latent ``Z_v`` with ``num_latents`` states, attached like
    ``X_v`` in the tree: the model is ``sum_z prod_v p(x_v | z_v) p(z_v | z_parent(v))``,
    compiled through :func:`~libspn_keras.models.compile_region_graph`
    (elementwise products, ``num_latents`` x ``num_latents`` sums).

    With ``num_trees`` > 1 the model is a mixture of that many HCLTs, over
    trees: the Chow-Liu tree of ``data``, then those of bootstrap resamples
    of it (tree ``m >= 1`` from the rows
    ``numpy.random.default_rng(seed).integers(0, len(data), len(data))``,
    one draw per tree in order; on data with strong dependencies they are
    often the same tree). One root region whose partitions are
    the trees' root products, under one sum of ``num_trees * num_latents``
    weights, ``sum_m sum_z w_(m, z_root) prod_v ...``. Every tree has its own
    latent transitions; the input distributions ``p(x_v | z_v)`` are shared
    by all trees.

    Args:
        data: ``[samples, vars]`` training data (complete), used for the structure only.
        num_latents: States of every latent variable (``K``).
        data_type: ``"categorical"`` (integer categories, binary included) or
            ``"gaussian"``; default categorical for integer-valued data.
        num_categories: Categories per variable, categorical data only
            (default: largest value + 1).
        sum_op: Sum op of every sum layer (default ``"em"``, for
            :class:`~libspn_keras.optimizers.OnlineExpectationMaximization`).
        mutual_information_pseudocount: Smoothing of the pairwise counts.
        leaf: Optional leaf layer with ``num_latents`` components per variable
            (replaces the default indicators + input sums, or normals, whose
            locations and scales learn by EM under the EM sum ops and by
            gradients under ``"grad"``).
        num_trees: Number of HCLTs mixed at the root (default 1, a single tree).
        seed: Seed of the bootstrap resamples of the trees after the first
            (default: drawn from NumPy's global state).
        **sum_kwargs: More sum-layer arguments (``accumulator_initializer``, ...).

    Returns:
        A :class:`~libspn_keras.models.SequentialSumProductNetwork`; its last
        layer, a :class:`~libspn_keras.structure.CompiledRegionGraph`, holds
        the tree as ``roots``.
    """
    num_latents = positive_int("build_hclt", "num_latents", num_latents)
    data = checked_data(data, "build_hclt")
    if data_type is None:
        data_type = "categorical" if np.array_equal(data, np.rint(data)) else "gaussian"
    if data_type not in DATA_TYPES:
        raise ValueError(f"build_hclt: data_type must be one of {DATA_TYPES}, got {data_type!r}.")
    data = checked_data(data, "build_hclt", categorical=data_type == "categorical")
    if num_categories is not None:
        if data_type != "categorical":
            raise ValueError(
                f"build_hclt: num_categories applies to categorical data, not data_type={data_type!r}; "
                "leave it out (or pass integer data with data_type='categorical')."
            )
    if data_type == "categorical":
        # Every tree's mutual information counts the leaf's categories, a bootstrap resample's too.
        num_categories = category_count(data, num_categories, "build_hclt")
    num_trees = positive_int("build_hclt", "num_trees", num_trees)
    mutual_information_pseudocount = check_float(
        "build_hclt", "mutual_information_pseudocount", mutual_information_pseudocount, minimum=0.0
    )
    seed = check_int("build_hclt", "seed", seed, minimum=0, maximum=2**64 - 1, allow_none=True)
    trees = _bootstrap_trees(data, num_trees, data_type, num_categories, mutual_information_pseudocount, seed)
    roots = [hclt_region_graph(parents) for parents in trees]
    # A mixture: the root's partitions are the trees' root products, all under the one root sum.
    root = roots[0]
    if num_trees > 1:
        root = RegionNode(partitions=[r.partitions[0] for r in roots], product="elementwise")
    num_input_sums = None
    if leaf is None and data_type == "categorical":
        leaf, num_input_sums = IndicatorLeaf(num_components=max(num_categories, 2)), num_latents
    elif leaf is None:
        counts = isinstance(sum_ops.get(sum_op), CountingSumOpBase)
        leaf = _gaussian_leaf(np.asarray(data, dtype=np.float64), num_latents, use_accumulators=counts)
    input_dtype = leaf.compute_dtype if data_type == "gaussian" else "int32"  # floatx() unless the leaf has a dtype
    return compile_region_graph(
        root,
        leaf,
        num_sums=num_latents,
        num_input_sums=num_input_sums,
        input_dtype=input_dtype,
        sum_op=sum_op,
        **sum_kwargs,
    )
