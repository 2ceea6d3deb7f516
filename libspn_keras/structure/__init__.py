"""Structures: compiling region graphs into layers, and learning region graphs from data."""

from libspn_keras.structure.compiled_region_graph import CompiledRegionGraph
from libspn_keras.structure.plan import plan_region_graph

__all__ = ["CompiledRegionGraph", "plan_region_graph"]
