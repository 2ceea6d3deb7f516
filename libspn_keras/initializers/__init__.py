"""Initializers for accumulators and leaf parameters."""

from libspn_keras.initializers.data_based import DataInitializerBase
from libspn_keras.initializers.dirichlet import Dirichlet
from libspn_keras.initializers.epsilon_inverse_fan_in import EpsilonInverseFanIn
from libspn_keras.initializers.equidistant import Equidistant
from libspn_keras.initializers.k_means import KMeans
from libspn_keras.initializers.poon_domingos_mean_of_quantile_split import PoonDomingosMeanOfQuantileSplit
from libspn_keras.initializers.poon_domingos_stddev_of_quantile_split import PoonDomingosStddevOfQuantileSplit

__all__ = [
    "DataInitializerBase",
    "Dirichlet",
    "EpsilonInverseFanIn",
    "Equidistant",
    "KMeans",
    "PoonDomingosMeanOfQuantileSplit",
    "PoonDomingosStddevOfQuantileSplit",
]
