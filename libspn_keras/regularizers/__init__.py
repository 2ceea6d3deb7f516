"""Regularization of SPNs: Keras regularizers of the normalized sum weights, and data softening."""

from libspn_keras.regularizers.data_softening import DataSoftening
from libspn_keras.regularizers.normalized_entropy import NormalizedEntropy
from libspn_keras.regularizers.normalized_lp import NormalizedLp

__all__ = ["DataSoftening", "NormalizedEntropy", "NormalizedLp"]
