"""``learn_region_graph``'s ``max_cluster_depth``: regions that many splits below the root or deeper keep one partition.

Data: two clusters of instances with different dependency structures (cluster 1 copies one coin into variables
0-2 and another into 3-5; cluster 2 copies coins into {0, 3, 4} and {1, 2, 5}), so that splits found per cluster
differ from the split found on all instances.
"""

import numpy as np

from libspn_keras.region_graph import RegionNode, topological_regions
from libspn_keras.structure import learn_region_graph


def two_structure_data(num_samples=4000, seed=0):
    rng = np.random.default_rng(seed)
    first = rng.random(num_samples) < 0.5
    coins = [rng.random(num_samples) < p for p in (0.9, 0.1, 0.1, 0.9)]  # a, b (cluster 1); c, d (cluster 2)
    a, b, c, d = coins
    groups = np.where(first[:, None], np.stack([a, a, a, b, b, b], 1), np.stack([c, d, d, c, c, d], 1))
    noise = rng.random(groups.shape) < 0.03
    return (groups ^ noise).astype(np.int32)


def partitions_by_depth(root):
    """``{depth: [number of partitions of each region first reached at that depth]}`` (breadth first)."""
    depth_of, frontier, depth = {id(root): 0}, [root], 0
    while frontier:
        following = []
        for region in frontier:
            for child in region.children:
                if isinstance(child, RegionNode) and id(child) not in depth_of:
                    depth_of[id(child)] = depth + 1
                    following.append(child)
        frontier, depth = following, depth + 1
    found = {}
    for region in topological_regions([root]):
        if isinstance(region, RegionNode):
            found.setdefault(depth_of[id(region)], []).append(len(region.partitions))
    return found


def test_max_cluster_depth_zero_never_clusters():
    data = two_structure_data()
    root = learn_region_graph(data, min_instances=500, max_cluster_depth=0, seed=0)
    assert all(n == 1 for counts in partitions_by_depth(root).values() for n in counts)


def test_max_cluster_depth_one_clusters_at_the_root_only():
    data = two_structure_data()
    root = learn_region_graph(data, min_instances=500, max_cluster_depth=1, seed=0)
    counts = partitions_by_depth(root)
    assert counts[0][0] > 1  # the clusters' splits differ from the split of all instances
    assert all(n == 1 for depth, found in counts.items() if depth >= 1 for n in found)


def test_a_split_found_twice_with_its_halves_swapped_is_one_partition():
    # Instance clusters often give the same variable split; the spectral bipartition may return its halves in
    # either order. Before, such a split became two partitions with the same two children.
    rng = np.random.default_rng(3)
    data = rng.integers(0, 2, (600, 6))
    half = rng.random(600) < 0.5
    data[half, 1] = data[half, 0]
    data[~half, 2] = data[~half, 3]
    for seed in range(4):
        graph = learn_region_graph(
            data.astype(np.int32), min_instances=50, num_clusters=2, max_cluster_depth=2, seed=seed
        )
        for region in topological_regions([graph]):
            if isinstance(region, RegionNode):
                splits = [frozenset(child.variables for child in partition) for partition in region.partitions]
                assert len(set(splits)) == len(splits), [sorted(map(sorted, split)) for split in splits]
