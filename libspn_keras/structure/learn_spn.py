"""A LearnSPN-style structure learner that yields region graphs with several partitions per region.

LearnSPN (Gens & Domingos 2013) alternates splitting the variables into
(approximately) independent groups and clustering the instances. Here both
serve the region graph: every region gets the split of its variables found
on all the instances that reached it, plus one alternative split per
instance cluster (found on that cluster's instances). Regions over the same
two or more variables are shared, so the result is a DAG; its parameters are learned
afterwards, on all the data, by EM or gradients on the compiled model.
"""

import numpy as np

from libspn_keras.arguments import check_int, check_seed, positive_int
from libspn_keras.region_graph import RegionNode, RegionVariable
from libspn_keras.structure.chow_liu import (
    DATA_TYPES,
    categorical_mutual_information,
    category_count,
    checked_data,
    gaussian_mutual_information,
)


def _bipartition(information):
    """Two groups of variables, weakly dependent on each other: the median cut of the Fiedler vector."""
    num_vars = len(information)
    if num_vars == 2:
        return [0], [1]
    affinity = information + 1e-9
    np.fill_diagonal(affinity, 0.0)
    laplacian = np.diag(affinity.sum(axis=1)) - affinity
    fiedler = np.linalg.eigh(laplacian)[1][:, 1]
    order = np.argsort(fiedler, kind="stable")
    half = num_vars // 2
    return sorted(order[:half].tolist()), sorted(order[half:].tolist())


def _kmeans(points, num_clusters, rng, iterations=10):
    """Cluster labels of ``points`` ``[n, d]`` by k-means with k-means++ seeding."""
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, num_clusters):
        distance = np.min([np.sum((points - c) ** 2, axis=1) for c in centres], axis=0)
        total = distance.sum()
        centres.append(points[rng.choice(len(points), p=distance / total)] if total > 0 else centres[0])
    centres = np.array(centres, dtype=np.float64)
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(iterations):
        distances = (points**2).sum(1)[:, None] - 2 * points @ centres.T + (centres**2).sum(1)[None]
        labels = np.argmin(distances, axis=1)
        for k in range(num_clusters):
            if np.any(labels == k):
                centres[k] = points[labels == k].mean(axis=0)
    return labels


def learn_region_graph(
    data, min_instances=1000, num_clusters=2, max_cluster_depth=2, data_type="categorical", seed=None
):
    """Learns a region graph from ``data`` in the manner of LearnSPN.

    Each region over variables ``S`` reached by instances ``D``:

    - splits ``S`` in two halves, weakly dependent on each other: the median
      cut of the Fiedler vector of the pairwise mutual information of ``S``
      on ``D`` (a spectral clustering of the dependency graph);
    - if the region is less than ``max_cluster_depth`` splits below the root
      and ``D`` holds at least ``num_clusters * min_instances`` instances,
      clusters them (k-means) and adds, for every cluster of at least
      ``min_instances`` instances, the split found on that cluster as another
      partition (unless it equals one already there); each part is then
      learned from the instances of its partition.

    Regions over the same two or more variables are shared (each occurrence
    of a single variable is its own ``RegionVariable``). Products are outer products
    of the two halves, as in :class:`~libspn_keras.layers.DenseProduct`.

    Args:
        data: ``[samples, vars]`` complete training data.
        min_instances: Smallest cluster that gets its own partition (an int >= 1; clusters of a single
            instance never do, as their mutual information is undefined).
        num_clusters: Clusters per instance split.
        max_cluster_depth: Regions this many splits below the root or deeper
            keep a single partition.
        data_type: ``"categorical"`` or ``"gaussian"`` (which mutual information to use).
        seed: Optional int for k-means.

    Returns:
        The root :class:`~libspn_keras.region_graph.RegionNode`.
    """
    if data_type not in DATA_TYPES:
        raise ValueError(f"learn_region_graph: data_type must be one of {DATA_TYPES}, got {data_type!r}.")
    min_instances = positive_int("learn_region_graph", "min_instances", min_instances)
    num_clusters = positive_int("learn_region_graph", "num_clusters", num_clusters)
    max_cluster_depth = check_int("learn_region_graph", "max_cluster_depth", max_cluster_depth, minimum=0)
    seed = check_seed("learn_region_graph", "seed", seed)
    data = checked_data(data, "learn_region_graph", categorical=data_type == "categorical")
    rng = np.random.default_rng(seed)
    num_categories = category_count(data, None, "learn_region_graph") if data_type == "categorical" else None
    memo = {}

    def information_of(scope, rows):
        sub = data[np.ix_(rows, scope)]
        if data_type == "gaussian":
            return gaussian_mutual_information(sub)
        return categorical_mutual_information(sub, num_categories)

    def learn(scope, rows, information, depth):
        # ``information``: mutual information of ``scope`` on ``rows``; a part learned from the same rows reads
        # its block, so only instance clusters cost a new estimate.
        if len(scope) == 1:
            return RegionVariable(scope[0])
        key = frozenset(scope)
        if key in memo:
            return memo[key]
        candidates = [(rows, information)]
        if depth < max_cluster_depth and len(rows) >= num_clusters * min_instances and len(scope) > 2:
            labels = _kmeans(data[np.ix_(rows, scope)].astype(np.float64), num_clusters, rng)
            clusters = [rows[labels == k] for k in range(num_clusters)]
            # Mutual information needs at least two instances: smaller clusters get no partition of their own.
            candidates += [(c, information_of(scope, c)) for c in clusters if len(c) >= max(min_instances, 2)]
        partitions = {}
        for part_rows, part_information in candidates:
            halves = _bipartition(part_information)
            parts = [[scope[i] for i in half] for half in halves]
            # The same split may come back with its halves swapped (the spectral bipartition's sign): one partition.
            split = frozenset(frozenset(part) for part in parts)
            if split not in partitions:
                partitions[split] = [
                    learn(part, part_rows, part_information[np.ix_(half, half)], depth + 1)
                    for part, half in zip(parts, halves)
                ]
        memo[key] = RegionNode(partitions=list(partitions.values()))
        return memo[key]

    scope = list(range(data.shape[1]))
    rows = np.arange(len(data))
    return learn(scope, rows, information_of(scope, rows), 0)
