"""Drawing of a region graph: trees or DAGs, every region once per root, partitions in colours."""

import numpy as np

from libspn_keras.visualize.figures import colour, finish, format_scope, new_figure

# Edge colours of a region's first, second, ... partition.
_PARTITION_COLOURS = ("#555555", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")


def region_graph_layout(roots):
    """Positions and edges of the drawing: ``(regions, positions, edges)``.

    Each root (decomposition) is laid out on its own: its variables along
    ``y = 0`` in depth-first order, every region at ``y = height`` above the
    mean of its children. A region that several partitions or parents share
    appears once per root; regions shared between roots appear once in each.
    Keys are ``(root index, id(region))``; ``edges`` holds
    ``(parent key, child key, partition index)``.
    """
    from libspn_keras.region_graph import RegionVariable, topological_regions

    regions, positions, edges, next_x = {}, {}, [], 0.0
    for decomposition, root in enumerate(roots):
        for region in topological_regions([root]):
            key = (decomposition, id(region))
            regions[key] = region
            if isinstance(region, RegionVariable):
                positions[key] = (next_x, 0.0)
                next_x += 1.0
                continue
            xs = [positions[(decomposition, id(child))][0] for child in region.children]
            positions[key] = (float(np.mean(xs)), float(region.height))
            for index, parts in enumerate(region.partitions):
                edges.extend((key, (decomposition, id(part)), index) for part in parts)
        next_x += 1.0  # a gap between decompositions
    return regions, positions, edges


def visualize_region_graph(roots, path=None, figsize=None):
    """Draws a region graph: a tree, several decompositions side by side, or a DAG with several partitions.

    Regions are drawn by height (variables at the bottom, roots at the top),
    each labelled with its scope; a region shared by several parents or
    partitions is drawn once. The edges of a region's first partition are
    grey, further partitions get other colours. The decompositions (roots)
    stand side by side, each with its own copy of the regions they share.

    Args:
        roots: A :class:`~libspn_keras.region_graph.RegionNode` or a list of
            them (one per decomposition), e.g. ``model.layers[-1].roots`` of
            a compiled model or a learned structure.
        path: Where to write the PNG; ``None`` returns the
            ``matplotlib.figure.Figure`` instead (to show it in a notebook).
        figsize: Figure size in inches; by default it grows with the graph.

    Returns:
        ``path``, or the figure when ``path`` is ``None``.
    """
    from libspn_keras.region_graph import RegionNode, RegionVariable

    roots = list(roots) if isinstance(roots, (list, tuple)) else [roots]
    if not roots or not all(isinstance(root, (RegionNode, RegionVariable)) for root in roots):
        raise ValueError("visualize_region_graph: roots must be a RegionNode or a list of RegionNodes.")
    regions, positions, edges = region_graph_layout(roots)
    width = max(x for x, _ in positions.values()) + 1.0
    height = max(root.height for root in roots) + 1
    figsize = figsize or (min(max(4.0, 0.6 * width), 60.0), min(max(3.0, 1.0 * height), 30.0))
    figure, axes = new_figure(figsize)
    axes = axes[0, 0]
    for parent, child, partition in edges:
        (x0, y0), (x1, y1) = positions[parent], positions[child]
        edge_colour = _PARTITION_COLOURS[partition % len(_PARTITION_COLOURS)]
        axes.plot([x0, x1], [y0, y1], color=edge_colour, linewidth=0.7, zorder=1)
    font_size = 7 if width < 40 else 4
    for key, (x, y) in positions.items():
        region = regions[key]
        is_variable = isinstance(region, RegionVariable)
        label = f"x{region.index}" if is_variable else format_scope(region.variables)
        box = {
            "boxstyle": "round,pad=0.25",
            "facecolor": colour("variable" if is_variable else "region"),
            "edgecolor": "#333333",
            "linewidth": 0.5,
        }
        axes.text(x, y, label, ha="center", va="center", fontsize=font_size, zorder=2, bbox=box)
    if len(roots) > 1:
        for index, root in enumerate(roots):
            x, y = positions[(index, id(root))]
            axes.text(x, y + 0.45, f"decomposition {index}", ha="center", va="bottom", fontsize=font_size + 1)
    axes.set_xlim(-0.8, width - 0.2)
    axes.set_ylim(-0.6, height - 0.2)
    axes.set_axis_off()
    num_regions = sum(not isinstance(region, RegionVariable) for region in regions.values())
    num_variables = len(frozenset().union(*(root.variables for root in roots)))
    axes.set_title(f"Region graph: {len(roots)} decomposition(s), {num_regions} regions over {num_variables} variables")
    return finish(figure, path)
