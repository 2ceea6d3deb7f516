"""SPN models: Keras models that train without labels and answer probabilistic queries."""

from libspn_keras.models.rat_spn import build_rat_spn
from libspn_keras.models.sequential_sum_product_network import SequentialSumProductNetwork
from libspn_keras.models.sum_product_network import SumProductNetwork

__all__ = ["build_rat_spn", "SequentialSumProductNetwork", "SumProductNetwork"]
