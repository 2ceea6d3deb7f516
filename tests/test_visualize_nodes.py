"""The node-level graph of dense SPNs (checked against the layers' documented wiring) and its plotly picture."""

import itertools

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers, visualize
from libspn_keras.models import build_rat_spn, compile_region_graph
from libspn_keras.region_graph import RegionNode, RegionVariable, region_graph_to_dense_spn


def two_decompositions():
    """Halves {0,1,2} x {3,4,5} (3 variables each) and pairs {0,3} x {1,4} x {2,5}: padding in both."""
    x = RegionVariable
    return [
        RegionNode([RegionNode([x(0), x(1), x(2)]), RegionNode([x(3), x(4), x(5)])]),
        RegionNode([RegionNode([x(0), x(3)]), RegionNode([x(1), x(4)]), RegionNode([x(2), x(5)])]),
    ]


def small_stack(num_sums=3):
    """FlatToRegions -> 2 leaf components -> product of scope pairs -> sums -> product -> root, over 4 variables."""
    return keras.Sequential(
        [
            keras.Input(shape=(4,)),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=num_sums),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


def by_key(graph):
    return {(n.layer, n.scope_index, n.decomp, n.index): p for p, n in enumerate(graph.nodes)}


def test_hand_made_stack_has_the_documented_wiring():
    """Edges equal the wiring written out from the layers' docstrings (not from the code under test)."""
    graph = visualize.dense_spn_graph(small_stack())
    key = by_key(graph)
    expected = set()
    # Product row 1: scope s joins leaf scopes 2s and 2s+1; node i * 2 + j takes component i and component j.
    for s, i, j in itertools.product(range(2), range(2), range(2)):
        expected |= {(key[1, s, 0, i * 2 + j], key[0, 2 * s, 0, i]), (key[1, s, 0, i * 2 + j], key[0, 2 * s + 1, 0, j])}
    # Sum row 2: every sum of scope s has all 4 products of scope s as children.
    for s, k, c in itertools.product(range(2), range(3), range(4)):
        expected.add((key[2, s, 0, k], key[1, s, 0, c]))
    # Product row 3: node a * 3 + b joins sum a of scope 0 and sum b of scope 1.
    for a, b in itertools.product(range(3), range(3)):
        expected |= {(key[3, 0, 0, a * 3 + b], key[2, 0, 0, a]), (key[3, 0, 0, a * 3 + b], key[2, 1, 0, b])}
    # The root sums all 9 products.
    expected |= {(key[4, 0, 0, 0], key[3, 0, 0, c]) for c in range(9)}
    assert set(graph.edges) == expected
    assert len(graph.edges) == len(expected)
    counts = {}
    for node in graph.nodes:
        counts[node.layer_type, node.kind] = counts.get((node.layer_type, node.kind), 0) + 1
    assert counts == {
        ("NormalLeaf", "leaf"): 8,
        ("DenseProduct", "product"): 8 + 9,
        ("DenseSum", "sum"): 6,
        ("RootSum", "sum"): 1,
    }
    assert graph.nodes[key[4, 0, 0, 0]].scope == frozenset(range(4))
    assert graph.nodes[key[2, 1, 0, 2]].scope == frozenset({2, 3})


def check_valid(graph, num_vars):
    """Products have children with disjoint scopes, sums children with their own scope; the root covers all."""
    for position, node in enumerate(graph.nodes):
        children = [graph.nodes[c] for c in graph.children(position)]
        if node.kind == "product":
            union = set()
            for child in children:
                assert not union & child.scope, f"{node} joins overlapping scopes"
                union |= child.scope
            assert union == node.scope
        elif node.kind == "sum":
            assert children and all(child.scope == node.scope for child in children)
        elif node.kind == "leaf":
            assert not children and len(node.scope) == 1
        elif node.kind == "padding":
            assert node.scope == frozenset()
    top = max(node.layer for node in graph.nodes)
    roots = [node for node in graph.nodes if node.layer == top]
    assert len(roots) == 1 and roots[0].scope == frozenset(range(num_vars))


def test_sum_children_of_tiny_weight_keep_their_edges():
    """A trained sum may give a child a weight far below 1e-12; the edge is still part of the structure."""
    model = small_stack(num_sums=2)
    root = model.layers[-1]
    assert len(visualize.dense_spn_graph(model).edges) == 16 + 16 + 8 + 4  # as counted by hand
    for log_weight in (-30.0, -80.0):  # weights ~1e-13 and ~2e-35 against ~1/3 for the others
        assert root.logspace_accumulators
        accumulators = np.zeros(root.accumulators.shape, np.float32)
        accumulators[0, 0] = log_weight
        root.accumulators.assign(accumulators)
        graph = visualize.dense_spn_graph(model)
        assert len(graph.edges) == 44
        assert len(graph.children(len(graph.nodes) - 1)) == 4


def test_region_graph_spn_with_padding():
    model = region_graph_to_dense_spn(
        two_decompositions(), layers.IndicatorLeaf(num_components=2), num_sums_iterable=[2, 1]
    )
    graph = visualize.dense_spn_graph(model)
    check_valid(graph, 6)
    leaves = [n for n in graph.nodes if n.kind == "leaf"]
    assert len(leaves) == 6 * 2 * 2  # variables x decompositions x components
    assert {n.scope for n in leaves} == {frozenset([v]) for v in range(6)}
    padding = [p for p, n in enumerate(graph.nodes) if n.kind == "padding" and n.layer_type == "PermuteAndPadScopes"]
    assert padding and all(not graph.children(p) for p in padding)


def test_rat_spn_and_pass_through_layers():
    model = build_rat_spn(num_vars=6, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2)
    graph = visualize.dense_spn_graph(model)
    check_valid(graph, 6)
    # A permutation without padding is not drawn as a row: the input sums link straight to the leaves.
    assert "PermuteAndPadScopesRandom" not in {n.layer_type for n in graph.nodes}
    assert [n.layer_type for n in graph.nodes if n.layer == 1][0] == "DenseSum"


def test_models_that_cannot_be_drawn_node_by_node():
    spatial = keras.Sequential(
        [
            keras.Input(shape=(4, 4, 1)),
            layers.NormalLeaf(num_components=2),
            layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2]),
        ]
    )
    with pytest.raises(ValueError, match="visualize_layer_stack"):
        visualize.dense_spn_graph(spatial)
    no_leaf = keras.Sequential([keras.Input(shape=(4, 1, 2)), layers.DenseProduct(num_factors=2)])
    with pytest.raises(ValueError, match="no leaf"):
        visualize.dense_spn_graph(no_leaf)
    with pytest.raises(ValueError, match="max_nodes"):
        visualize.dense_spn_graph(small_stack(), max_nodes=10)
    # A compiled region graph holds all its sums and products in one layer; it was drawn as one row of sums.
    variables = [RegionVariable(i) for i in range(4)]
    graph = RegionNode([RegionNode(variables[:2]), RegionNode(variables[2:])])
    compiled = compile_region_graph(graph, layers.IndicatorLeaf(2), num_sums=2, input_dtype="int32")
    with pytest.raises(ValueError, match="CompiledRegionGraph.*visualize_region_graph"):
        visualize.dense_spn_graph(compiled)
    with pytest.raises(ValueError, match="CompiledRegionGraph"):
        visualize.visualize_dense_spn(compiled)


plotly = pytest.importorskip("plotly")


def test_interactive_figure_has_one_marker_per_node():
    model = region_graph_to_dense_spn(
        two_decompositions(), layers.IndicatorLeaf(num_components=2), num_sums_iterable=[2, 1]
    )
    graph = visualize.dense_spn_graph(model)
    figure = visualize.visualize_dense_spn(model, show_legend=True, node_size=12)
    assert isinstance(figure, plotly.graph_objects.Figure)
    edges, *groups = figure.data
    assert sum(len(trace.x) for trace in groups) == len(graph.nodes)
    assert len([x for x in edges.x if x is None]) == len(graph.edges)
    assert all(trace.showlegend and trace.marker.size == 12 for trace in groups)
    assert any("scope {x0, x1, x2, x3, x4, x5}" in text for trace in groups for text in trace.hovertext)
    assert figure.layout.paper_bgcolor == "white"

    hidden = visualize.visualize_dense_spn(model, show_padding=False, transparent=True)
    shown = sum(len(trace.x) for trace in hidden.data[1:])
    assert shown == sum(n.kind != "padding" for n in graph.nodes) < len(graph.nodes)
    assert hidden.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert not any(trace.showlegend for trace in hidden.data[1:])


def test_interactive_figure_checks_its_arguments(tmp_path):
    model = small_stack()
    for kwargs in ({"show_legend": 2}, {"show_padding": "no"}, {"transparent": None}, {"node_size": 0}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            visualize.visualize_dense_spn(model, **kwargs)
    # A path as the second argument draws the layer-stack PNG, as this function did before it became interactive.
    path = tmp_path / "stack.png"
    assert visualize.visualize_dense_spn(model, path) == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_drawings_without_a_path_return_the_figure():
    matplotlib_figure = pytest.importorskip("matplotlib.figure")
    model = small_stack()
    assert isinstance(visualize.visualize_layer_stack(model), matplotlib_figure.Figure)
    assert isinstance(visualize.visualize_region_graph(two_decompositions()), matplotlib_figure.Figure)
    assert isinstance(visualize.image_grid(np.zeros((2, 4, 4))), matplotlib_figure.Figure)


def test_top_level_name_as_in_060():
    import libspn_keras

    assert libspn_keras.visualize_dense_spn is visualize.visualize_dense_spn
    assert "visualize_dense_spn" in libspn_keras.__all__


def test_layer_stack_drawing_names_each_layers_shape_nodes_and_parameters():
    pytest.importorskip("matplotlib")
    model = small_stack()
    figure = visualize.visualize_layer_stack(model)
    texts = [text.get_text() for text in figure.axes[0].texts if text.get_text()]
    # Written out from the layers' docstrings for 4 variables: leaf [4, 1, 2] with a location and a scale per
    # component, products of scope pairs (2 x 2 = 4 nodes), 3 sums per scope over 4 children, 3 x 3 = 9 products
    # and one root over the 9.
    expected = [
        ("FlatToRegions", "[batch, 4, 1, 1]", "4 nodes, 0 params"),
        ("NormalLeaf", "[batch, 4, 1, 2]", "8 nodes, 16 params"),
        ("DenseProduct", "[batch, 2, 1, 4]", "8 nodes, 0 params"),
        ("DenseSum", "[batch, 2, 1, 3]", "6 nodes, 24 params"),
        ("DenseProduct", "[batch, 1, 1, 9]", "9 nodes, 0 params"),
        ("RootSum", "[batch, 1]", "1 nodes, 9 params"),
    ]
    assert texts[0].startswith("Input") and "[batch, 4]" in texts[0]
    assert len(texts) == 1 + len(expected)
    for text, (kind, shape, counts) in zip(texts[1:], expected):
        title, shape_line, count_line = text.split("\n")
        assert title.startswith(kind)
        assert shape_line == f"output {shape}"
        assert count_line == counts
