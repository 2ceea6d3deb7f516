"""0.6.0's import path ``libspn_keras.models.spn``."""

from libspn_keras.models.sum_product_network import SumProductNetwork

__all__ = ["SumProductNetwork"]
