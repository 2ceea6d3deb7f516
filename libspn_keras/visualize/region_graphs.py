"""Drawing of a region graph: one tree per decomposition, every region labelled with its variables."""

import numpy as np

from libspn_keras.visualize.figures import colour, finish, format_scope, new_figure


def _variables(region):
    """The variable indices of a region (``Region.variables``; older region objects only had ``scope``)."""
    variables = getattr(region, "variables", None)
    return set(variables if variables is not None else region.scope)


def visualize_region_graph(roots, path=None):
    """Draws a region graph, one tree per decomposition, every region labelled with its scope.

    Regions are drawn by height (variables at the bottom, roots at the top);
    the decompositions stand side by side, each with its own copy of any
    region objects (such as the variables) that several decompositions share.

    Args:
        roots: A :class:`~libspn_keras.region_graph.RegionNode` or a list of
            them (one per decomposition).
        path: Where to write the PNG; ``None`` returns the
            ``matplotlib.figure.Figure`` instead (to show it in a notebook).

    Returns:
        ``path``, or the figure when ``path`` is ``None``.
    """
    from libspn_keras.region_graph import RegionNode, RegionVariable

    roots = list(roots) if isinstance(roots, (list, tuple)) else [roots]
    if not roots or not all(isinstance(root, (RegionNode, RegionVariable)) for root in roots):
        raise ValueError("visualize_region_graph: roots must be a RegionNode or a list of RegionNodes.")
    positions = {}  # (decomposition, id(region)) -> (x, y)
    regions = {}
    edges = []
    next_x = [0.0]

    def place(region, decomposition):
        key = (decomposition, id(region))
        if key in positions:
            return positions[key]
        regions[key] = region
        if isinstance(region, RegionVariable):
            positions[key] = (next_x[0], 0.0)
            next_x[0] += 1.0
        else:
            child_positions = [place(child, decomposition) for child in region.children]
            for child in region.children:
                edges.append((key, (decomposition, id(child))))
            positions[key] = (float(np.mean([x for x, _ in child_positions])), float(region.height))
        return positions[key]

    root_positions = []
    for decomposition, root in enumerate(roots):
        root_positions.append(place(root, decomposition))
        next_x[0] += 1.0  # gap between decompositions

    width = max(next_x[0] - 1.0, 1.0)
    height = max(root.height for root in roots) + 1
    figure, axes = new_figure((min(max(4.0, 1.1 * width), 60.0), min(max(3.0, 1.3 * height), 30.0)))
    axes = axes[0, 0]
    for parent, child in edges:
        (x0, y0), (x1, y1) = positions[parent], positions[child]
        axes.plot([x0, x1], [y0, y1], color="#555555", linewidth=0.8, zorder=1)
    font_size = 8 if width < 40 else 5
    for key, (x, y) in positions.items():
        region = regions[key]
        is_variable = isinstance(region, RegionVariable)
        label = f"x{region.index}" if is_variable else format_scope(_variables(region))
        axes.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=font_size,
            zorder=2,
            bbox={
                "boxstyle": "round,pad=0.3",
                "facecolor": colour("variable" if is_variable else "region"),
                "edgecolor": "#333333",
            },
        )
    if len(roots) > 1:
        for index, (x, y) in enumerate(root_positions):
            axes.text(x, y + 0.45, f"decomposition {index}", ha="center", va="bottom", fontsize=font_size + 1)
    axes.set_xlim(-0.8, width - 0.2)
    axes.set_ylim(-0.6, height - 0.2)
    axes.set_axis_off()
    axes.set_title(f"Region graph: {len(roots)} decomposition(s), {len(_variables(roots[0]))} variables")
    return finish(figure, path)
