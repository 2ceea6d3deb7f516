"""Drawing of a sequential SPN's layer stack: one box per layer, and the output shape of every layer."""

import numpy as np

from libspn_keras.visualize.figures import colour, finish, new_figure


def layer_kind(layer):
    """``"leaf"``, ``"sum"``, ``"product"`` or ``"other"``: the kind of SPN node that ``layer`` outputs."""
    from libspn_keras.layers.base_leaf import LeafBase
    from libspn_keras.layers.base_sum import SumLayerBase

    if isinstance(layer, LeafBase):
        return "leaf"
    if isinstance(layer, SumLayerBase):
        return "sum"
    if "Product" in type(layer).__name__:
        return "product"
    return "other"


def layer_output_shapes(model, caller="visualize_layer_stack"):
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
                f"{caller}: the model has no known input shape; start it with keras.Input(shape=...) or build it first."
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


def visualize_layer_stack(model, path=None):
    """Draws the layer stack of a sequential SPN: one box per layer, input at the bottom, root at the top.

    Every box names the layer's type and name, its output shape, the number
    of SPN nodes it outputs per sample (the product of the non-batch output
    axes: leaf components, products or sums) and its parameter count. Boxes
    are coloured by kind (leaf, product, sum, other).

    Args:
        model: A built ``keras.Sequential`` of SPN layers, such as a
            :class:`~libspn_keras.models.SequentialSumProductNetwork`.
        path: Where to write the PNG; ``None`` returns the
            ``matplotlib.figure.Figure`` instead (to show it in a notebook).

    Returns:
        ``path``, or the figure when ``path`` is ``None``.
    """
    layers = list(getattr(model, "layers", []))
    if not layers:
        raise ValueError("visualize_layer_stack: the model has no layers.")
    shapes = layer_output_shapes(model)

    boxes = [("Input", _shape_text(shapes[0]), "", "input")]
    for layer, shape in zip(layers, shapes[1:]):
        nodes = int(np.prod([s for s in shape[1:] if s is not None])) if len(shape) > 1 else 1
        params = layer.count_params() if layer.built else 0
        boxes.append(
            (
                f"{type(layer).__name__}  '{layer.name}'",
                f"output {_shape_text(shape)}",
                f"{nodes:,} nodes, {params:,} params",
                layer_kind(layer),
            )
        )

    spacing = 1.0
    figure, axes = new_figure((6.5, max(2.0, 0.95 * len(boxes))))
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
            bbox={"boxstyle": "round,pad=0.4", "facecolor": colour(kind), "edgecolor": "#333333"},
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
    return finish(figure, path)
