"""Images side by side in a grid, on one grey scale, with missing pixels in red."""

import math

import numpy as np

from libspn_keras.visualize.figures import finish, new_figure


def image_grid(images, path=None, rows=None, titles=None):
    """Saves images ``[n, h, w]`` or ``[n, h, w, 1]`` side by side in a grid.

    All images share one grey scale (from the smallest to the largest finite
    value), so samples and completions are comparable; NaN pixels (e.g. the
    unobserved part of an input to complete) show in red.

    Args:
        images: Array-like ``[n, h, w]`` or ``[n, h, w, 1]``.
        path: Where to write the PNG; ``None`` returns the
            ``matplotlib.figure.Figure`` instead (to show it in a notebook).
        rows: Number of rows; default about ``sqrt(n)``.
        titles: Optional list of ``n`` titles, one per image.

    Returns:
        ``path``, or the figure when ``path`` is ``None``.
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
    figure, axes = new_figure((cell * cols, cell * rows + (0.3 * rows if titles else 0)), rows, cols)
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
            ax.set_title(str(titles[index]), fontsize=10)
    figure.tight_layout()
    return finish(figure, path)
