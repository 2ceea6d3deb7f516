"""A picture of a region graph DAG: regions by height, shared regions drawn once, partitions in colours."""

import numpy as np

from libspn_keras.region_graph import RegionVariable, as_roots, topological_regions

_PARTITION_COLOURS = ("#444444", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")


def _label(region):
    if isinstance(region, RegionVariable):
        return f"x{region.index}"
    variables = sorted(region.variables)
    if len(variables) <= 3:
        return "{" + ",".join(map(str, variables)) + "}"
    return f"{len(variables)} vars"


def region_graph_positions(roots):
    """``{id(region): (x, y)}``: variables spread along ``y = 0`` in depth-first order, regions at ``y = height``
    above the mean of their children."""
    positions, next_x = {}, [0.0]
    for region in topological_regions(roots):
        if isinstance(region, RegionVariable):
            positions[id(region)] = (next_x[0], 0.0)
            next_x[0] += 1.0
        else:
            xs = [positions[id(child)][0] for child in region.children]
            positions[id(region)] = (float(np.mean(xs)), float(region.height))
    return positions


def draw_region_graph(region_graph, path=None, figsize=None):
    """Draws a region graph (a tree, or a DAG with several partitions and shared regions) with matplotlib.

    Every region appears once, at the height of its longest path to a
    variable, above the mean position of its children; its scope is written
    in the box (the number of variables for large scopes). Edges of a
    region's first partition are grey, further partitions get other colours.

    Args:
        region_graph: A region or a list of roots (e.g. ``model.layers[-1].roots``
            of a compiled model).
        path: PNG file to write; ``None`` returns the ``matplotlib`` figure.
        figsize: Optional figure size in inches (default grows with the graph).

    Returns:
        ``path``, or the figure when ``path`` is ``None``.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("draw_region_graph needs matplotlib: pip install matplotlib") from error
    roots = as_roots(region_graph, "draw_region_graph")
    positions = region_graph_positions(roots)
    regions = topological_regions(roots)
    width = max(x for x, _ in positions.values()) + 1
    height = max(root.height for root in roots) + 1
    figure = Figure(figsize=figsize or (min(max(4.0, 0.35 * width), 60.0), min(max(3.0, 0.8 * height), 30.0)))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for region in regions:
        x0, y0 = positions[id(region)]
        for index, parts in enumerate(getattr(region, "partitions", ())):
            for part in parts:
                x1, y1 = positions[id(part)]
                colour = _PARTITION_COLOURS[index % len(_PARTITION_COLOURS)]
                axes.plot([x0, x1], [y0, y1], color=colour, linewidth=0.6, zorder=1)
    font = 7 if width < 60 else 4
    for region in regions:
        x, y = positions[id(region)]
        variable = isinstance(region, RegionVariable)
        box = {"boxstyle": "round,pad=0.2", "facecolor": "#b7e1a1" if variable else "#9ecae1", "linewidth": 0.5}
        axes.text(x, y, _label(region), ha="center", va="center", fontsize=font, zorder=2, bbox=box)
    axes.set_xlim(-1.0, width)
    axes.set_ylim(-0.7, height - 0.3)
    axes.set_axis_off()
    num_regions = sum(not isinstance(r, RegionVariable) for r in regions)
    axes.set_title(f"Region graph: {num_regions} regions over {len(roots[0].variables)} variables")
    if path is None:
        return figure
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path
