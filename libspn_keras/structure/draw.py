"""``draw_region_graph``: the structure learners' name for :func:`~libspn_keras.visualize.visualize_region_graph`."""

from libspn_keras.region_graph import as_roots
from libspn_keras.visualize.region_graphs import visualize_region_graph


def draw_region_graph(region_graph, path=None, figsize=None):
    """Draws a region graph (a tree, or a DAG with several partitions and shared regions) with matplotlib.

    The same drawing as :func:`~libspn_keras.visualize.visualize_region_graph`:
    regions by height above the mean of their children, labelled with their
    scopes, shared regions drawn once, each partition's edges in its own colour.

    Args:
        region_graph: A region or a list of roots (e.g. ``model.layers[-1].roots``
            of a compiled model).
        path: PNG file to write; ``None`` returns the ``matplotlib`` figure.
        figsize: Optional figure size in inches (default grows with the graph).

    Returns:
        ``path``, or the figure when ``path`` is ``None``.
    """
    return visualize_region_graph(as_roots(region_graph, "draw_region_graph"), path, figsize)
