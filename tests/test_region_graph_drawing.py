"""The one region-graph drawing (``visualize_region_graph``, also reached as ``structure.draw_region_graph``)."""

import numpy as np
import pytest

from libspn_keras.region_graph import RegionNode, RegionVariable
from libspn_keras.structure import draw_region_graph
from libspn_keras.visualize import visualize_region_graph
from libspn_keras.visualize.region_graphs import region_graph_layout


def shared_dag():
    """{0,1,2,3} split as {0,1}|{2,3} and as {0}|{1,2,3}; {2,3} is shared by both partitions' sides."""
    x = [RegionVariable(i) for i in range(4)]
    pair_23 = RegionNode([x[2], x[3]])
    right = RegionNode([x[1], pair_23])
    root = RegionNode(partitions=[[RegionNode([x[0], x[1]]), pair_23], [x[0], right]])
    return root, x, pair_23


def test_dag_layout_draws_every_region_once_with_its_partition_edges():
    root, x, pair_23 = shared_dag()
    regions, positions, edges = region_graph_layout([root])
    assert len(regions) == 4 + 3 + 1  # variables, {0,1} / {2,3} / {1,2,3}, the root
    assert sorted(positions[(0, id(v))] for v in x) == [(float(i), 0.0) for i in range(4)]
    for key, region in regions.items():
        x_position, y_position = positions[key]
        assert y_position == region.height
        if region.children:
            assert x_position == pytest.approx(np.mean([positions[(0, id(c))][0] for c in region.children]))
    root_edges = sorted((partition, child) for parent, (_, child), partition in edges if parent == (0, id(root)))
    expected = sorted((index, id(part)) for index, parts in enumerate(root.partitions) for part in parts)
    assert root_edges == expected
    # Every edge of every region: one per part of each partition (the shared {2,3} is reached twice).
    assert len(edges) == sum(len(parts) for r in regions.values() for parts in getattr(r, "partitions", ()))
    assert sum(1 for _, (_, child), _ in edges if child == id(pair_23)) == 2


def test_decompositions_stand_side_by_side_with_their_own_copies():
    x = [RegionVariable(i) for i in range(4)]
    roots = [RegionNode([RegionNode([x[0], x[1]]), RegionNode([x[2], x[3]])]), RegionNode([x[0], x[1], x[2], x[3]])]
    regions, positions, _ = region_graph_layout(roots)
    assert len(regions) == (4 + 3) + (4 + 1)
    first = max(positions[(0, id(v))][0] for v in x)
    assert min(positions[(1, id(v))][0] for v in x) > first  # the second decomposition starts right of the first


def test_both_names_draw_the_same_picture(tmp_path):
    pytest.importorskip("matplotlib")
    root, _, _ = shared_dag()
    title = "Region graph: 1 decomposition(s), 4 regions over 4 variables"
    assert visualize_region_graph(root).axes[0].get_title() == title
    assert draw_region_graph([root]).axes[0].get_title() == title
    path = draw_region_graph(root, tmp_path / "dag.png", figsize=(3, 2))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_non_regions_are_refused():
    with pytest.raises(ValueError, match="visualize_region_graph"):
        visualize_region_graph([])
    with pytest.raises(ValueError, match="draw_region_graph"):
        draw_region_graph("x0")
