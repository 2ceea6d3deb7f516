"""Structures: compiling region graphs into layers, and learning region graphs from data."""

from libspn_keras.structure.chow_liu import (
    categorical_mutual_information,
    chow_liu_tree,
    gaussian_mutual_information,
    hclt_region_graph,
    maximum_spanning_tree,
)
from libspn_keras.structure.compiled_region_graph import CompiledRegionGraph
from libspn_keras.structure.draw import draw_region_graph
from libspn_keras.structure.learn_spn import learn_region_graph
from libspn_keras.structure.plan import plan_region_graph
from libspn_keras.structure.poon_domingos import poon_domingos_region_graph
from libspn_keras.structure.prune import partition_flows, prune_partitions
from libspn_keras.structure.serialization import region_graph_from_config, region_graph_to_config

__all__ = [
    "CompiledRegionGraph",
    "categorical_mutual_information",
    "chow_liu_tree",
    "draw_region_graph",
    "gaussian_mutual_information",
    "hclt_region_graph",
    "learn_region_graph",
    "partition_flows",
    "maximum_spanning_tree",
    "plan_region_graph",
    "poon_domingos_region_graph",
    "prune_partitions",
    "region_graph_from_config",
    "region_graph_to_config",
]
