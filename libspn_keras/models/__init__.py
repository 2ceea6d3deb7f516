"""SPN models: Keras models that train without labels and answer probabilistic queries."""

from libspn_keras.models.dynamic_sum_product_network import DynamicSumProductNetwork
from libspn_keras.models.hclt import build_hclt
from libspn_keras.models.rat_spn import build_rat_spn
from libspn_keras.models.region_graph_spn import compile_region_graph, region_graph_to_dense_spn
from libspn_keras.models.sequential_sum_product_network import SequentialSumProductNetwork
from libspn_keras.models.sum_product_network import SumProductNetwork
from libspn_keras.models.weight_files import load_060_weights

# 0.6.0's module paths, reachable as attributes after ``import libspn_keras`` as they were there.
from libspn_keras.models import dynamic_spn, sequential_spn, spn  # noqa: E402, F401  isort: skip

__all__ = [
    "DynamicSumProductNetwork",
    "SequentialSumProductNetwork",
    "SumProductNetwork",
    "build_hclt",
    "build_rat_spn",
    "compile_region_graph",
    "load_060_weights",
    "region_graph_to_dense_spn",
]
