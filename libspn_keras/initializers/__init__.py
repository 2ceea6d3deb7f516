"""Initializers for accumulators and leaf parameters."""

from libspn_keras.initializers.dirichlet import Dirichlet

__all__ = ["Dirichlet"]
