"""Initializers for accumulators and leaf parameters."""

from libspn_keras.initializers.data_based import DataInitializerBase
from libspn_keras.initializers.dirichlet import Dirichlet
from libspn_keras.initializers.epsilon_inverse_fan_in import EpsilonInverseFanIn
from libspn_keras.initializers.equidistant import Equidistant
from libspn_keras.initializers.kmeans import KMeans
from libspn_keras.initializers.logspace import LogspaceWrapper, logspace_wrapper_initializer
from libspn_keras.initializers.poon_domingos import (
    PoonDomingosMeanOfQuantileSplit,
    PoonDomingosQuantileSplitBase,
    PoonDomingosStddevOfQuantileSplit,
)

__all__ = [
    "DataInitializerBase",
    "Dirichlet",
    "EpsilonInverseFanIn",
    "Equidistant",
    "KMeans",
    "LogspaceWrapper",
    "PoonDomingosMeanOfQuantileSplit",
    "PoonDomingosQuantileSplitBase",
    "PoonDomingosStddevOfQuantileSplit",
    "logspace_wrapper_initializer",
]
