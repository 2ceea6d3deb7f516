"""The region-graph names at libspn-keras 0.6.0's import path (``libspn_keras.region``)."""

from libspn_keras.models.region_graph_spn import region_graph_to_dense_spn
from libspn_keras.region_graph import OverlappingScopesException, Region, RegionNode, RegionVariable

__all__ = ["OverlappingScopesException", "Region", "RegionNode", "RegionVariable", "region_graph_to_dense_spn"]
