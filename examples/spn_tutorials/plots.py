"""Pictures of the tutorials: training curves, completion and sample grids; notebook helpers."""

import inspect

import numpy as np

from libspn_keras.visualize import image_grid
from libspn_keras.visualize.figures import finish, new_figure


def training_curve(
    history, keys, labels=None, negate=False, ylabel="mean log-likelihood (nats)", title=None, path=None
):
    """Plots per-epoch values from a Keras ``History`` (or its ``history`` dict), one line per key.

    Args:
        history: What ``model.fit`` returned, or its ``.history`` dict.
        keys: Names of the logged values to plot, e.g. ``["loss", "val_loss"]``.
        labels: Legend labels, one per key (default: the keys).
        negate: Plot ``-value``, e.g. a negative log-likelihood loss as a log-likelihood.
        ylabel: Label of the y axis.
        title: Title of the plot.
        path: Where to write a PNG; ``None`` returns the matplotlib figure.
    """
    logs = getattr(history, "history", history)
    missing = [key for key in keys if key not in logs]
    if missing:
        raise ValueError(f"training_curve: no {missing} in the training history (it has {sorted(logs)}).")
    figure, axes = new_figure((5.5, 3.2))
    axes = axes[0, 0]
    for key, label in zip(keys, labels or keys):
        values = -np.asarray(logs[key], dtype=float) if negate else np.asarray(logs[key], dtype=float)
        axes.plot(np.arange(1, len(values) + 1), values, marker="o", label=label)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return finish(figure, path)


def completion_grid(originals, masked, completions, pixel_max, path=None):
    """One row per kind of image, one column per test image: originals, masked inputs, then each completion.

    Args:
        originals: Images ``[n, h, w, 1]``.
        masked: The same images with NaN where a pixel is hidden (drawn in red).
        completions: ``{row title: images}``, e.g. ``{"MPE": model.complete(masked, method="mpe")}``.
        pixel_max: Largest pixel value; everything is clipped to ``[0, pixel_max]`` for one grey scale.
        path: Where to write a PNG; ``None`` returns the matplotlib figure.
    """
    rows = {"original": originals, "masked": masked, **completions}
    grid = np.concatenate([np.asarray(images, dtype=np.float32) for images in rows.values()])
    titles = [title if column == 0 else "" for title in rows for column in range(len(originals))]
    # NaNs survive the clip and show in red.
    return image_grid(np.clip(grid, 0.0, pixel_max), path, rows=len(rows), titles=titles)


def show_code(function):
    """The source of ``function`` as a Markdown code block, which a notebook renders with syntax highlighting."""
    from IPython.display import Markdown

    return Markdown(f"```python\n{inspect.getsource(function)}```")


def use_offline_plotly_renderer():
    """Makes plotly figures render as HTML that expects plotly.js on the page, as the docs build serves it.

    The documentation loads plotly.js from its own ``_static`` folder on the
    pages that hold a plotly figure, so the figures work without a network.
    """
    import plotly.io as pio
    from plotly.io.base_renderers import MimetypeRenderer

    class OfflineHtmlRenderer(MimetypeRenderer):
        def to_mimebundle(self, fig_dict):
            html = pio.to_html(fig_dict, include_plotlyjs=False, include_mathjax=False, full_html=False, validate=False)
            return {"text/html": html}

    pio.renderers["libspn_keras_docs"] = OfflineHtmlRenderer()
    pio.renderers.default = "libspn_keras_docs"


def tree_picture(parents, title="Chow-Liu tree", path=None):
    """Draws a tree of variables given the parent of each (``-1`` at the root): the root on top, children below.

    Args:
        parents: Parent index of every variable, ``-1`` for the root (as
            :func:`libspn_keras.structure.chow_liu.chow_liu_tree` returns).
        title: Title of the picture.
        path: Where to write a PNG; ``None`` returns the matplotlib figure.
    """
    parents = [int(p) for p in parents]
    children = {v: [c for c, p in enumerate(parents) if p == v] for v in range(len(parents))}
    root = parents.index(-1)
    positions, next_leaf = {}, [0.0]

    def place(vertex, depth):
        # Leaves left to right; a parent centred above its children.
        xs = [place(child, depth + 1) for child in children[vertex]]
        x = float(np.mean(xs)) if xs else next_leaf[0]
        if not xs:
            next_leaf[0] += 1.0
        positions[vertex] = (x, -depth)
        return x

    place(root, 0)
    depth = -min(y for _, y in positions.values())
    figure, axes = new_figure((max(4.0, 0.6 * next_leaf[0] + 1), max(2.5, 0.8 * depth + 1.5)))
    axes = axes[0, 0]
    for vertex, parent in enumerate(parents):
        if parent >= 0:
            (x0, y0), (x1, y1) = positions[parent], positions[vertex]
            axes.plot([x0, x1], [y0, y1], color="#555555", linewidth=1, zorder=1)
    for vertex, (x, y) in positions.items():
        axes.text(
            x,
            y,
            f"x{vertex}",
            ha="center",
            va="center",
            fontsize=8,
            zorder=2,
            bbox={"boxstyle": "circle,pad=0.3", "facecolor": "#b7e1a1", "edgecolor": "#333333"},
        )
    axes.set_xlim(-0.7, next_leaf[0] - 0.3)
    axes.set_ylim(-depth - 0.6, 0.6)
    axes.set_axis_off()
    axes.set_title(title)
    return finish(figure, path)
