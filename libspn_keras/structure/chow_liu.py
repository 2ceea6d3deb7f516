"""Chow-Liu trees: pairwise mutual information, its maximum spanning tree, and the hidden Chow-Liu region graph.

Everything here is NumPy on the whole data at once: the pairwise joint
counts of discrete data are one matrix product of one-hot codes, Gaussian
mutual information comes from the correlation matrix, and Prim's algorithm
grows the tree one vertex per (vectorized) step.
"""

import numpy as np

from libspn_keras.arguments import positive_int
from libspn_keras.region_graph import RegionNode, RegionVariable

DATA_TYPES = ("categorical", "gaussian")


def checked_data(data, name, categorical=False):
    """``data`` as an array after checking it is ``[samples, variables]`` (2 or more of each), numeric and complete,
    and, where ``categorical``, holds integer categories; a ``ValueError`` naming ``name`` otherwise."""
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] < 2 or data.shape[0] < 2:
        raise ValueError(f"{name}: data must be [samples, variables] with at least 2 of each, got shape {data.shape}.")
    if not np.issubdtype(data.dtype, np.number) and data.dtype != bool:
        raise ValueError(f"{name}: data must be numeric, got dtype {data.dtype}.")
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise ValueError(f"{name}: data must be complete (no NaN or inf); impute or drop the incomplete samples.")
    if categorical and not np.array_equal(data, np.rint(data)):
        raise ValueError(
            f"{name}: categorical data must hold integer categories, got non-integer values; pass "
            "data_type='gaussian' for continuous data."
        )
    if categorical and data.min() < 0:
        raise ValueError(
            f"{name}: categories must be >= 0, got {data.min()}; structure learning needs complete data "
            "(negative codes mark missing values), so impute or drop the incomplete samples."
        )
    return data


def category_count(data, num_categories, name):
    """The categories per variable of checked categorical ``data``: ``num_categories`` (an int >= 1), or the
    largest value + 1; a ``ValueError`` naming ``name`` if a value is not below it."""
    largest = int(np.rint(data).max())
    if num_categories is None:
        return largest + 1
    num_categories = positive_int(name, "num_categories", num_categories)
    if largest >= num_categories:
        raise ValueError(
            f"{name}: categories must lie in [0, num_categories={num_categories}), got values up to {largest}; "
            f"pass num_categories={largest + 1} or more."
        )
    return num_categories


def categorical_mutual_information(data, num_categories=None, pseudocount=0.01):
    """Pairwise mutual information (nats) of discrete variables, ``[vars, vars]`` with zeros on the diagonal.

    Args:
        data: ``[samples, vars]`` integer categories in ``[0, num_categories)``.
        num_categories: Categories per variable (default: the largest value + 1).
        pseudocount: Added to every cell of each pairwise count table.
    """
    data = checked_data(data, "categorical_mutual_information", categorical=True)
    if not isinstance(pseudocount, (int, float, np.number)) or isinstance(pseudocount, bool) or pseudocount < 0:
        raise ValueError(
            f"categorical_mutual_information: pseudocount must be a number >= 0 (added to every cell of the "
            f"pairwise count tables), got {pseudocount!r}."
        )
    codes = np.rint(data).astype(np.int64)
    num_categories = category_count(codes, num_categories, "categorical_mutual_information")
    num_samples, num_vars = codes.shape
    one_hot = np.zeros((num_samples, num_vars * num_categories), dtype=np.float32)
    one_hot[np.arange(num_samples)[:, None], np.arange(num_vars) * num_categories + codes] = 1.0
    counts = (one_hot.T @ one_hot).astype(np.float64).reshape(num_vars, num_categories, num_vars, num_categories)
    joint = (counts + pseudocount) / (num_samples + pseudocount * num_categories**2)
    left = joint.sum(axis=3, keepdims=True)
    right = joint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = joint * (np.log(joint) - np.log(left) - np.log(right))
    # Cells never seen (possible without a pseudocount) add 0 log 0 = 0.
    information = np.sum(np.where(joint > 0.0, terms, 0.0), axis=(1, 3))
    np.fill_diagonal(information, 0.0)
    return np.maximum(information, 0.0)


def gaussian_mutual_information(data):
    """Pairwise mutual information (nats) of jointly Gaussian variables: ``-log(1 - rho^2) / 2``."""
    data = checked_data(data, "gaussian_mutual_information").astype(np.float64)
    centred = data - data.mean(axis=0)
    scale = np.sqrt(np.sum(centred**2, axis=0))
    scale[scale == 0] = 1.0
    correlation = (centred.T @ centred) / np.outer(scale, scale)
    information = -0.5 * np.log(np.clip(1.0 - correlation**2, 1e-12, 1.0))
    np.fill_diagonal(information, 0.0)
    return information


def maximum_spanning_tree(weights):
    """Edges ``[(u, v)]`` of a maximum spanning tree of the complete graph with symmetric ``weights`` (Prim)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1] or weights.shape[0] < 1:
        raise ValueError(f"maximum_spanning_tree: weights must be a square [vars, vars] matrix, got {weights.shape}.")
    if not np.isfinite(weights[~np.eye(len(weights), dtype=bool)]).all():
        raise ValueError("maximum_spanning_tree: the weights off the diagonal must be finite, got NaN or inf.")
    num_vars = len(weights)
    in_tree = np.zeros(num_vars, dtype=bool)
    in_tree[0] = True
    best = weights[0].copy()
    link = np.zeros(num_vars, dtype=np.int64)
    edges = []
    for _ in range(num_vars - 1):
        candidates = np.where(in_tree, -np.inf, best)
        vertex = int(np.argmax(candidates))
        edges.append((int(link[vertex]), vertex))
        in_tree[vertex] = True
        closer = weights[vertex] > best
        best = np.where(closer, weights[vertex], best)
        link = np.where(closer, vertex, link)
    return edges


def _farthest(neighbours, start):
    """``(farthest vertex, parent array)`` of a breadth-first search from ``start``."""
    parent = np.full(len(neighbours), -2, dtype=np.int64)
    parent[start] = -1
    frontier, last = [start], start
    while frontier:
        last = frontier[-1]
        following = []
        for vertex in frontier:
            for other in neighbours[vertex]:
                if parent[other] == -2:
                    parent[other] = vertex
                    following.append(other)
        frontier = following
    return last, parent


def root_at_centre(edges, num_vars):
    """Parent of every vertex (``-1`` for the root) with the tree rooted at its centre (least height)."""
    neighbours = [[] for _ in range(num_vars)]
    for u, v in edges:
        neighbours[u].append(v)
        neighbours[v].append(u)
    end, _ = _farthest(neighbours, 0)
    other_end, parent = _farthest(neighbours, end)
    path = [other_end]
    while parent[path[-1]] != -1:
        path.append(int(parent[path[-1]]))
    centre = path[len(path) // 2]
    return _farthest(neighbours, centre)[1]


def chow_liu_tree(data, data_type="categorical", num_categories=None, pseudocount=0.01):
    """Parents of the Chow-Liu tree of ``data`` (``-1`` at the root), rooted at the tree's centre.

    Args:
        data: ``[samples, vars]``, complete.
        data_type: ``"categorical"`` (integer categories, binary included) or ``"gaussian"``.
        num_categories: Categories per variable for categorical data.
        pseudocount: Smoothing of the categorical pairwise counts.

    Returns:
        An int array ``[vars]``: the parent of every variable.
    """
    if data_type not in DATA_TYPES:
        raise ValueError(f"chow_liu_tree: data_type must be one of {DATA_TYPES}, got {data_type!r}.")
    if data_type == "gaussian":
        information = gaussian_mutual_information(data)
    else:
        information = categorical_mutual_information(data, num_categories, pseudocount)
    return root_at_centre(maximum_spanning_tree(information), len(information))


def hclt_region_graph(parents):
    """The hidden Chow-Liu tree as a region graph: per variable, the product of it and its subtrees.

    With ``K`` sums per region, the region of variable ``v`` computes
    ``p(x_subtree | Z_parent = k)`` for every state ``k`` of the parent's
    latent: a sum over ``Z_v`` of ``p(x_v | Z_v) * prod_c p(x_c-subtree | Z_v)``.

    Args:
        parents: Parent of every variable, ``-1`` at the root (as from :func:`chow_liu_tree`).

    Returns:
        The root :class:`~libspn_keras.region_graph.RegionNode`.
    """
    given = np.asarray(parents)
    if given.ndim != 1 or not np.issubdtype(given.dtype, np.number) or not np.array_equal(given, np.rint(given)):
        raise ValueError(f"hclt_region_graph: parents must be a 1-D array of ints, got {parents!r}.")
    parents = given.astype(np.int64)
    if parents.min() < -1 or parents.max() >= len(parents):
        raise ValueError(
            f"hclt_region_graph: parents must be -1 (the root) or a variable in [0, {len(parents)}), got {parents}."
        )
    children = [[] for _ in parents]
    roots = [int(v) for v in np.flatnonzero(parents == -1)]
    if len(roots) != 1:
        raise ValueError(f"hclt_region_graph: parents must describe one tree with one root (-1), got {len(roots)}.")
    for vertex, parent in enumerate(parents):
        if parent >= 0:
            children[parent].append(vertex)
    order, stack = [], [roots[0]]
    while stack:
        vertex = stack.pop()
        order.append(vertex)
        stack.extend(children[vertex])
    if len(order) != len(parents):
        raise ValueError("hclt_region_graph: parents do not form a single tree (unreachable variables or a cycle).")
    regions = {}
    for vertex in reversed(order):
        parts = [RegionVariable(vertex)] + [regions[c] for c in children[vertex]]
        regions[vertex] = RegionNode(parts, product="elementwise")
    return regions[roots[0]]
