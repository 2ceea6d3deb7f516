"""Pictures of region graphs, dense SPNs and image grids, saved as PNG.

matplotlib is an optional dependency (``pip install matplotlib``); it is
imported only when one of these functions runs. Figures are drawn by the
non-interactive Agg backend without going through pyplot, so they work on
machines without a display and leave an interactive session's backend alone.
"""

import math

import numpy as np

_COLOURS = {
    "input": "#e0e0e0",
    "leaf": "#b7e1a1",
    "product": "#fdd49e",
    "sum": "#9ecae1",
    "other": "#f0f0f0",
    "variable": "#b7e1a1",
    "region": "#9ecae1",
}


def _figure(figsize, rows=1, cols=1):
    """A figure drawn by the Agg backend, outside pyplot, so no global backend or figure state changes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "libspn_keras.visualize needs matplotlib, an optional dependency: pip install matplotlib"
        ) from error
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, cols, squeeze=False)


def _save(figure, path):
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path


def _format_scope(scope, max_parts=4):
    """Sorted variables as runs, e.g. ``{0-3,7,9-10}``; long scopes are shortened with their size."""
    variables = sorted(scope)
    runs = []
    for v in variables:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    if len(parts) > max_parts:
        parts = parts[: max_parts - 1] + ["…"]
        return "{" + ",".join(parts) + "}" + f"\n({len(variables)} vars)"
    return "{" + ",".join(parts) + "}"


def visualize_region_graph(roots, path):
    """Draws a region graph, one tree per decomposition, every region labelled with its scope.

    Regions are drawn by height (variables at the bottom, roots at the top);
    the decompositions stand side by side, each with its own copy of any
    region objects (such as the variables) that several decompositions share.

    Args:
        roots: A :class:`~libspn_keras.region_graph.RegionNode` or a list of
            them (one per decomposition).
        path: Where to write the PNG.

    Returns:
        ``path``.
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
    figure, axes = _figure((min(max(4.0, 1.1 * width), 60.0), min(max(3.0, 1.3 * height), 30.0)))
    axes = axes[0, 0]
    for parent, child in edges:
        (x0, y0), (x1, y1) = positions[parent], positions[child]
        axes.plot([x0, x1], [y0, y1], color="#555555", linewidth=0.8, zorder=1)
    font_size = 8 if width < 40 else 5
    for key, (x, y) in positions.items():
        region = regions[key]
        is_variable = isinstance(region, RegionVariable)
        label = f"x{region.index}" if is_variable else _format_scope(region.scope)
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
                "facecolor": _COLOURS["variable" if is_variable else "region"],
                "edgecolor": "#333333",
            },
        )
    if len(roots) > 1:
        for index, (x, y) in enumerate(root_positions):
            axes.text(x, y + 0.45, f"decomposition {index}", ha="center", va="bottom", fontsize=font_size + 1)
    axes.set_xlim(-0.8, width - 0.2)
    axes.set_ylim(-0.6, height - 0.2)
    axes.set_axis_off()
    axes.set_title(f"Region graph: {len(roots)} decomposition(s), {len(roots[0].scope)} variables")
    return _save(figure, path)


def _layer_kind(layer):
    from libspn_keras.layers.base_leaf import LeafBase
    from libspn_keras.layers.base_sum import SumLayerBase

    if isinstance(layer, LeafBase):
        return "leaf"
    if isinstance(layer, SumLayerBase):
        return "sum"
    if "Product" in type(layer).__name__:
        return "product"
    return "other"


def _layer_output_shapes(model):
    """Output shape of every layer of ``model`` (batch axis included), input first."""
    inputs = getattr(model, "inputs", None)
    if inputs:
        input_shape = tuple(inputs[0].shape)
    else:
        build_config = model.get_build_config() or {}
        input_shape = build_config.get("input_shape")
        if input_shape is None and build_config.get("shapes_dict"):
            input_shape = next(iter(build_config["shapes_dict"].values()))
        if input_shape is None:
            raise ValueError(
                "visualize_dense_spn: the model has no known input shape; start it with keras.Input(shape=...) "
                "or build it first."
            )
        input_shape = tuple(input_shape)
    shapes = [input_shape]
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            shape = tuple(layer.compute_output_shape(shapes[-1]))
        shapes.append(shape)
    return shapes


def _shape_text(shape):
    return "[" + ", ".join("batch" if s is None else str(s) for s in shape) + "]"


def visualize_dense_spn(model, path):
    """Draws the layer stack of a sequential SPN: one box per layer, input at the bottom, root at the top.

    Every box names the layer's type and name, its output shape, the number
    of SPN nodes it outputs per sample (the product of the non-batch output
    axes: leaf components, products or sums) and its parameter count. Boxes
    are coloured by kind (leaf, product, sum, other).

    Args:
        model: A built ``keras.Sequential`` of SPN layers, such as a
            :class:`~libspn_keras.models.SequentialSumProductNetwork`.
        path: Where to write the PNG.

    Returns:
        ``path``.
    """
    layers = list(getattr(model, "layers", []))
    if not layers:
        raise ValueError("visualize_dense_spn: the model has no layers.")
    shapes = _layer_output_shapes(model)

    boxes = [("Input", _shape_text(shapes[0]), "", "input")]
    for layer, shape in zip(layers, shapes[1:]):
        nodes = int(np.prod([s for s in shape[1:] if s is not None])) if len(shape) > 1 else 1
        params = layer.count_params() if layer.built else 0
        boxes.append(
            (
                f"{type(layer).__name__}  '{layer.name}'",
                f"output {_shape_text(shape)}",
                f"{nodes:,} nodes, {params:,} params",
                _layer_kind(layer),
            )
        )

    spacing = 1.0
    figure, axes = _figure((6.5, max(2.0, 0.95 * len(boxes))))
    axes = axes[0, 0]
    for index, (title, shape_line, count_line, kind) in enumerate(boxes):
        y = index * spacing
        text = "\n".join(line for line in (title, shape_line, count_line) if line)
        axes.text(
            0.5,
            y,
            text,
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": _COLOURS[kind], "edgecolor": "#333333"},
        )
        if index:
            axes.annotate(
                "",
                xy=(0.5, y - 0.34 * spacing),
                xytext=(0.5, y - 0.66 * spacing),
                arrowprops={"arrowstyle": "->", "color": "#333333"},
            )
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(-0.6 * spacing, (len(boxes) - 0.4) * spacing)
    axes.set_axis_off()
    axes.set_title(f"{type(model).__name__} '{model.name}'")
    return _save(figure, path)


def image_grid(images, path, rows=None, titles=None):
    """Saves images ``[n, h, w]`` or ``[n, h, w, 1]`` side by side in a grid.

    All images share one grey scale (from the smallest to the largest finite
    value), so samples and completions are comparable; NaN pixels (e.g. the
    unobserved part of an input to complete) show in red.

    Args:
        images: Array-like ``[n, h, w]`` or ``[n, h, w, 1]``.
        path: Where to write the PNG.
        rows: Number of rows; default about ``sqrt(n)``.
        titles: Optional list of ``n`` titles, one per image.

    Returns:
        ``path``.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(
            f"image_grid: images must have shape [n, h, w] or [n, h, w, 1] with n >= 1, got {images.shape}."
        )
    count = images.shape[0]
    if titles is not None and len(titles) != count:
        raise ValueError(f"image_grid: got {len(titles)} titles for {count} images.")
    rows = int(rows) if rows is not None else max(1, int(math.floor(math.sqrt(count))))
    if rows < 1:
        raise ValueError(f"image_grid: rows must be >= 1, got {rows}.")
    rows = min(rows, count)
    cols = int(math.ceil(count / rows))
    cell = 1.6
    figure, axes = _figure((cell * cols, cell * rows + (0.3 * rows if titles else 0)), rows, cols)
    import matplotlib

    finite = images[np.isfinite(images)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    colour_map = matplotlib.colormaps["gray"].with_extremes(bad="#d62728")

    axes = axes.reshape(-1)
    for index, ax in enumerate(axes):
        ax.set_axis_off()
        if index >= count:
            continue
        ax.imshow(np.ma.masked_invalid(images[index]), cmap=colour_map, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[index]), fontsize=8)
    figure.tight_layout()
    return _save(figure, path)
