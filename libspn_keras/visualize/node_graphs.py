"""The node-level graph of a dense (region) SPN: every leaf, product and sum node, its scope and its children.

The children of a layer's nodes are read off the layer itself rather than
from per-layer wiring rules: the layer is called on a batch in which each
row raises one input node (a log-value of 0) by a large amount, and an output
node is a parent of that input node exactly when its value changes. Sums
change with every child of non-zero weight (down to float32's smallest
normal number, so trained sums keep every edge), products with every factor, and
permutations with the one scope they copy; a padding scope changes with
nothing. Scopes follow from the children, starting at the leaves.
"""

from dataclasses import dataclass, field

import numpy as np

from libspn_keras.visualize.layer_stacks import layer_kind, layer_output_shapes

# A raised input node: log-value 80, i.e. a likelihood of e^80 against 1 for the others. A sum child of weight
# w then moves the sum by log(1 + w (e^80 - 1)), above the threshold below for any w above ~2e-38 (float32's
# smallest normal number), so trained sums with tiny weights keep all their edges. The sums shift each row by its
# own maximum, so the rows left at 0 are computed as without the raise.
_RAISE = 80.0
_CHANGED = 1e-3
_SPATIAL_LAYERS = ("Conv2DProduct", "Conv2DSum", "Local2DSum", "SpatialToRegions", "TemporalDenseProduct")


@dataclass(frozen=True)
class SpnNode:
    """One node of a dense SPN.

    Attributes:
        layer: Row of the node in the drawing: 0 for the leaves, one more for
            every layer above that is drawn.
        layer_name: Name of the Keras layer that outputs the node.
        layer_type: Class name of that layer (``DenseSum``, ``DenseProduct``, ...).
        kind: ``"leaf"``, ``"sum"``, ``"product"``, ``"other"``, or
            ``"padding"`` for a node over no variables (a marginalized padding
            scope, and products and sums over padding scopes only).
        scope_index: Index on the layer's ``scopes`` axis (0 for the root).
        decomp: Index on the layer's ``decomps`` axis (0 for the root).
        index: Index on the layer's ``nodes`` axis.
        scope: ``frozenset`` of the input variables below the node.
    """

    layer: int
    layer_name: str
    layer_type: str
    kind: str
    scope_index: int
    decomp: int
    index: int
    scope: frozenset


@dataclass
class SpnGraph:
    """Nodes and edges of a dense SPN, as returned by :func:`dense_spn_graph`.

    Attributes:
        nodes: List of :class:`SpnNode`, leaves first, layer by layer.
        edges: List of ``(parent, child)`` pairs of positions in ``nodes``.
    """

    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)

    def children(self, position):
        """Positions in ``nodes`` of the children of the node at ``position``."""
        return [child for parent, child in self.edges if parent == position]


def _region_shape(shape, layer, caller):
    """``(scopes, decomps, nodes)`` of a layer output: rank 4 is a region tensor, rank 2 a root ``[batch, k]``."""
    if len(shape) == 4 and all(s is not None for s in shape[1:]):
        return tuple(int(s) for s in shape[1:])
    if len(shape) == 2 and shape[1] is not None:
        return (1, 1, int(shape[1]))
    raise ValueError(
        f"{caller}: layer '{layer.name}' ({type(layer).__name__}) outputs shape {tuple(shape)}; only dense SPNs "
        "with [batch, scopes, decomps, nodes] tensors (and a [batch, k] root) can be drawn node by node. Use "
        "visualize_layer_stack for other models."
    )


def _probe(layer, input_shape):
    """``changed[k, j]``: output node ``j`` (flat) moves when input node ``k`` (flat) is raised."""
    from tensorflow import keras

    size = int(np.prod(input_shape))
    batch = np.zeros((size + 1, size), dtype=layer.compute_dtype or "float32")
    batch[np.arange(1, size + 1), np.arange(size)] = _RAISE
    outputs = keras.ops.convert_to_numpy(layer(batch.reshape((size + 1, *input_shape))))
    outputs = outputs.reshape(size + 1, -1).astype(np.float64)
    return np.abs(outputs[1:] - outputs[:1]) > _CHANGED


def dense_spn_graph(model, max_nodes=5000):
    """The node-level graph of a dense SPN: every node with its scope, and every edge.

    Supports the stacks that :func:`~libspn_keras.models.region_graph_to_dense_spn`
    and :func:`~libspn_keras.models.build_rat_spn` build, and hand-made
    ``keras.Sequential`` models of the same layers: anything before the leaf
    (``FlatToRegions``, normalization), a leaf on ``[batch, scopes, decomps, d]``
    (scope ``i`` is variable ``i``), then layers on ``[batch, scopes, decomps,
    nodes]`` tensors up to a root. Layers that only pass nodes through (such
    as ``LogDropout``, ``Undecompose`` or a permutation without padding) are
    not drawn as rows of their own: their parents link to the nodes below.

    Args:
        model: A built ``keras.Sequential`` (e.g. a
            :class:`~libspn_keras.models.SequentialSumProductNetwork`).
        max_nodes: Refuse models with more nodes than this (the picture would
            be unreadable, and finding the edges costs memory quadratic in a
            layer's width).

    Returns:
        An :class:`SpnGraph`.

    Raises:
        ValueError: For spatial or temporal SPNs, compiled region graphs, models without a leaf, an
            unknown input shape, or more than ``max_nodes`` nodes.
    """
    caller = "dense_spn_graph"
    layers = list(getattr(model, "layers", []))
    for layer in layers:
        if type(layer).__name__ in _SPATIAL_LAYERS:
            raise ValueError(
                f"{caller}: layer '{layer.name}' ({type(layer).__name__}) belongs to a spatial or temporal SPN; "
                "only dense (region) SPNs can be drawn node by node. Use visualize_layer_stack for this model."
            )
        if type(layer).__name__ == "CompiledRegionGraph":
            raise ValueError(
                f"{caller}: layer '{layer.name}' (CompiledRegionGraph) computes the sums and products of a whole "
                "region graph in one layer, which cannot be drawn node by node. Draw its region graph with "
                "visualize_region_graph(layer.roots), or the model with visualize_layer_stack."
            )
    leaf_positions = [i for i, layer in enumerate(layers) if layer_kind(layer) == "leaf"]
    if not leaf_positions:
        raise ValueError(f"{caller}: the model has no leaf layer (e.g. NormalLeaf, IndicatorLeaf) to start from.")
    shapes = layer_output_shapes(model, caller)  # shapes[i + 1] is the output of layers[i]
    start = leaf_positions[0]
    leaf = layers[start]
    if len(shapes[start]) != 4:
        raise ValueError(
            f"{caller}: the leaf '{leaf.name}' takes shape {tuple(shapes[start])}; a dense SPN's leaf takes "
            "[batch, scopes, decomps, d] (put FlatToRegions in front of it)."
        )
    total = sum(
        int(np.prod(_region_shape(shape, layer, caller))) for layer, shape in zip(layers[start:], shapes[start + 1 :])
    )
    if total > max_nodes:
        raise ValueError(
            f"{caller}: the model has {total:,} nodes, more than max_nodes={max_nodes:,}; draw a smaller model "
            "(fewer sums or decompositions), raise max_nodes, or use visualize_layer_stack."
        )

    graph = SpnGraph()
    # Per flat position of the current layer's output: the node drawn for it (a position in graph.nodes).
    scopes, decomps, width = _region_shape(shapes[start + 1], leaf, caller)
    current = []
    for s, d, n in np.ndindex(scopes, decomps, width):
        current.append(len(graph.nodes))
        graph.nodes.append(SpnNode(0, leaf.name, type(leaf).__name__, "leaf", s, d, n, frozenset([s])))
    row = 0
    for layer, input_shape, output_shape in zip(layers[start + 1 :], shapes[start + 1 :], shapes[start + 2 :]):
        changed = _probe(layer, _region_shape(input_shape, layer, caller))
        kind = layer_kind(layer)
        children = [np.flatnonzero(changed[:, j]) for j in range(changed.shape[1])]
        passes_through = kind == "other" and all(len(c) == 1 for c in children)
        if passes_through:
            current = [current[c[0]] for c in children]
            continue
        row += 1
        scopes, decomps, width = _region_shape(output_shape, layer, caller)
        following = []
        for j, (s, d, n) in enumerate(np.ndindex(scopes, decomps, width)):
            below = [current[k] for k in children[j]]
            scope = frozenset().union(*(graph.nodes[b].scope for b in below))
            node_kind = "padding" if not scope else kind
            following.append(len(graph.nodes))
            graph.nodes.append(SpnNode(row, layer.name, type(layer).__name__, node_kind, s, d, n, scope))
            graph.edges.extend((following[-1], b) for b in below)
        current = following
    return graph
