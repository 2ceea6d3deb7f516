"""Shared helpers of the matplotlib drawings: an off-pyplot figure, saving, colours and scope labels."""

_COLOURS = {
    "input": "#e0e0e0",
    "leaf": "#b7e1a1",
    "product": "#fdd49e",
    "sum": "#9ecae1",
    "other": "#f0f0f0",
    "padding": "#ffffff",
    "variable": "#b7e1a1",
    "region": "#9ecae1",
}


def new_figure(figsize, rows=1, cols=1):
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


def finish(figure, path):
    """Writes ``figure`` as a PNG to ``path`` and returns ``path``; with ``path=None`` returns the figure itself.

    A returned ``matplotlib.figure.Figure`` shows inline in a Jupyter notebook
    (as the value of a cell, or through ``IPython.display.display``) once the
    inline backend is active, e.g. after ``%matplotlib inline``.
    """
    if path is None:
        return figure
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path


def format_scope(scope, max_parts=4):
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


def colour(kind):
    """Fill colour of a box or node of the given kind (``leaf``, ``sum``, ``product``, ``variable``, ...)."""
    return _COLOURS.get(kind, _COLOURS["other"])
