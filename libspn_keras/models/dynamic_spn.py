"""0.6.0's import path ``libspn_keras.models.dynamic_spn``."""

from libspn_keras.models.dynamic_sum_product_network import DynamicSumProductNetwork

__all__ = ["DynamicSumProductNetwork"]
