"""Pictures of SPNs: region graphs, layer stacks, node-level networks and image grids.

The PNG drawings (:func:`visualize_region_graph`, :func:`visualize_layer_stack`,
:func:`image_grid`) need matplotlib, an optional dependency
(``pip install matplotlib``), imported only when one of them runs. They are
drawn by the non-interactive Agg backend without going through pyplot, so
they work on machines without a display and leave an interactive session's
backend alone. Given a path they write a PNG and return the path; without
one they return the ``matplotlib.figure.Figure``, which a Jupyter notebook
shows inline.

:func:`visualize_dense_spn` draws a dense SPN node by node as an interactive
plotly figure (plotly is optional too: ``pip install plotly``), from the
graph that :func:`dense_spn_graph` extracts.
"""

from libspn_keras.visualize.images import image_grid
from libspn_keras.visualize.interactive import visualize_dense_spn
from libspn_keras.visualize.layer_stacks import visualize_layer_stack
from libspn_keras.visualize.node_graphs import SpnGraph, SpnNode, dense_spn_graph
from libspn_keras.visualize.region_graphs import visualize_region_graph

__all__ = [
    "SpnGraph",
    "SpnNode",
    "dense_spn_graph",
    "image_grid",
    "visualize_dense_spn",
    "visualize_layer_stack",
    "visualize_region_graph",
]
