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
    """One row per image: original, masked input (hidden pixels in red), then one column per completion.

    Args:
        originals: Images ``[n, h, w, 1]``.
        masked: The same images with NaN where a pixel is hidden.
        completions: ``{column title: images}``, e.g. ``{"MPE": model.complete(masked, method="mpe")}``.
        pixel_max: Largest pixel value; everything is clipped to ``[0, pixel_max]`` for one grey scale.
        path: Where to write a PNG; ``None`` returns the matplotlib figure.
    """
    columns = [originals, masked, *completions.values()]
    grid = np.stack([np.asarray(column, dtype=np.float32) for column in columns], axis=1)
    grid = grid.reshape(-1, *grid.shape[2:])
    titles = ["original", "masked", *completions] + [""] * (len(grid) - len(columns))
    # NaNs survive the clip and show in red.
    return image_grid(np.clip(grid, 0.0, pixel_max), path, rows=len(originals), titles=titles)


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
