"""An interactive, node-level picture of a dense SPN, drawn with plotly (an optional dependency)."""

import os

from libspn_keras.arguments import as_scalar, check_bool, is_real
from libspn_keras.visualize.figures import format_scope
from libspn_keras.visualize.layer_stacks import visualize_layer_stack
from libspn_keras.visualize.node_graphs import dense_spn_graph

_NAME = "visualize_dense_spn"
_SYMBOLS = {"leaf": "circle", "sum": "circle-cross", "product": "circle-x", "padding": "asterisk-open"}
# A qualitative palette (ColorBrewer Set3): one colour per scope, so a scope keeps its colour from layer to layer.
_PADDING = "#7f7f7f"  # open asterisks are drawn in the marker colour
_PALETTE = [
    "#8dd3c7",
    "#ffffb3",
    "#bebada",
    "#fb8072",
    "#80b1d3",
    "#fdb462",
    "#b3de69",
    "#fccde5",
    "#d9d9d9",
    "#bc80bd",
    "#ccebc5",
    "#ffed6f",
]


def _plotly():
    try:
        import plotly.graph_objects as go
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "visualize_dense_spn needs plotly, an optional dependency: pip install plotly "
            "(or pip install 'libspn-keras[visualize]')"
        ) from error
    return go


def _positions(nodes):
    """``(x, y)`` per node: one row per layer, decompositions side by side, every row as wide as the widest."""
    rows = {}
    for position, node in enumerate(nodes):
        rows.setdefault(node.layer, []).append(position)
    slots = {}
    for row, members in rows.items():
        members.sort(key=lambda p: (nodes[p].decomp, nodes[p].scope_index, nodes[p].index))
        # One empty slot between decompositions.
        slot, previous = 0, None
        for p in members:
            if previous is not None and nodes[p].decomp != previous:
                slot += 1
            slots[p] = slot
            slot += 1
            previous = nodes[p].decomp
        rows[row] = (members, slot)
    width = max(count for _, count in rows.values())
    positions = {}
    for row, (members, count) in rows.items():
        spacing = width / count
        for p in members:
            positions[p] = ((slots[p] + 0.5) * spacing - width / 2.0, float(row))
    return positions


def _hover(node):
    scope = "{" + ", ".join(f"x{v}" for v in sorted(node.scope)) + "}" if node.scope else "∅ (padding)"
    return (
        f"{node.layer_type} '{node.layer_name}'<br>scope {scope}<br>"
        f"scope index {node.scope_index}, decomposition {node.decomp}, node {node.index}"
    )


def visualize_dense_spn(dense_spn, show_legend=False, show_padding=True, transparent=False, node_size=30):
    """An interactive picture of a dense SPN, node by node: leaves at the bottom, the root at the top.

    Every leaf, product and sum node is a marker (circles for leaves, crossed
    circles for sums, x-ed circles for products, asterisks for padding nodes);
    lines join every node to its children; hovering a node shows its layer,
    its scope (the variables below it) and its position in the layer's
    ``[scopes, decomps, nodes]`` output. Nodes over the same scope in the
    same layer form one legend entry, as in libspn-keras 0.6.0, and every
    scope keeps one colour through all layers.
    The nodes and edges come from :func:`dense_spn_graph`, which says which
    models it supports (region-graph SPNs, RAT-SPNs and hand-made stacks of
    dense layers).

    Needs plotly (``pip install plotly``, or the ``visualize`` extra). Call
    ``.show()`` on the result, or make it the value of a notebook cell.

    For a drawing of the layer stack as a PNG, see
    :func:`visualize_layer_stack`; calling ``visualize_dense_spn(model, path)``
    with a path (a ``str`` or ``os.PathLike``) as the second argument, as
    earlier versions of this package did, still draws that PNG and returns
    the path.

    Args:
        dense_spn: A built dense SPN model (0.6.0's name for the argument), e.g. from
            :func:`~libspn_keras.models.region_graph_to_dense_spn`.
        show_legend: Show the legend of node groups (layer and scope) on the right.
        show_padding: Draw the padding nodes of marginalized scopes and their edges.
        transparent: Transparent background instead of white.
        node_size: Marker size of the nodes, in pixels; lower it for wide models.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    if isinstance(show_legend, (str, os.PathLike)):
        return visualize_layer_stack(dense_spn, show_legend)
    # Python or NumPy bools (NumPy ones become Python bools, which plotly insists on).
    show_legend = check_bool(_NAME, "show_legend", show_legend)
    show_padding = check_bool(_NAME, "show_padding", show_padding)
    transparent = check_bool(_NAME, "transparent", transparent)
    node_size = as_scalar(node_size)
    if not is_real(node_size) or not node_size > 0:
        raise ValueError(f"visualize_dense_spn: node_size must be a positive number of pixels, got {node_size!r}.")
    go = _plotly()
    graph = dense_spn_graph(dense_spn)
    nodes = graph.nodes
    shown = [show_padding or node.kind != "padding" for node in nodes]
    positions = _positions(nodes)

    edge_x, edge_y = [], []
    for parent, child in graph.edges:
        if shown[parent] and shown[child]:
            (x0, y0), (x1, y1) = positions[parent], positions[child]
            edge_x += [x0, x1, None]
            edge_y += [y0, y1, None]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=edge_x, y=edge_y, mode="lines", line={"color": "#9e9e9e", "width": 1}, hoverinfo="skip", showlegend=False
        )
    )
    groups = {}
    for position, node in enumerate(nodes):
        if shown[position]:
            groups.setdefault((node.layer, node.decomp, node.scope_index), []).append(position)
    colours = {}
    for _, members in sorted(groups.items()):
        first = nodes[members[0]]
        if first.scope not in colours:
            colours[first.scope] = _PADDING if not first.scope else _PALETTE[len(colours) % len(_PALETTE)]
        scope = format_scope(first.scope).replace("\n", " ") if first.scope else "∅"
        figure.add_trace(
            go.Scatter(
                x=[positions[p][0] for p in members],
                y=[positions[p][1] for p in members],
                mode="markers",
                name=f"{first.layer_type} {scope}",
                hovertext=[_hover(nodes[p]) for p in members],
                hoverinfo="text",
                marker={
                    "size": node_size,
                    "color": colours[first.scope],
                    "symbol": [_SYMBOLS.get(nodes[p].kind, "square") for p in members],
                    "line": {"width": 2, "color": "#444444"},
                },
                showlegend=show_legend,
            )
        )
    background = "rgba(0,0,0,0)" if transparent else "white"
    rows = 1 + max(node.layer for node in nodes)
    hidden_axis = {"showgrid": False, "zeroline": False, "showticklabels": False, "ticks": ""}
    figure.update_layout(
        title=f"{type(dense_spn).__name__} '{dense_spn.name}': {sum(shown)} nodes",
        xaxis=hidden_axis,
        yaxis=hidden_axis,
        plot_bgcolor=background,
        paper_bgcolor=background,
        height=max(300, 110 * rows + 100),
        hovermode="closest",
        legend={"traceorder": "reversed"},
        margin={"l": 20, "r": 20, "t": 60, "b": 20},
    )
    return figure
