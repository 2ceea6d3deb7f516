"""0.6.0's import path ``libspn_keras.models.sequential_spn``."""

from libspn_keras.models.sequential_sum_product_network import SequentialSumProductNetwork

__all__ = ["SequentialSumProductNetwork"]
