"""Leaf scales from the standard deviations of quantile bins (Poon & Domingos, 2011)."""

import numpy as np
from tensorflow import keras

from libspn_keras.initializers.data_based import DataInitializerBase, quantile_bins


@keras.utils.register_keras_serializable(package="libspn_keras")
class PoonDomingosStddevOfQuantileSplit(DataInitializerBase):
    """Leaf scales ``[*cells, K, d]``: the standard deviations of ``K`` equal-size quantile bins.

    The bins are those of
    :class:`~libspn_keras.initializers.PoonDomingosMeanOfQuantileSplit`
    (each variable's sorted samples split into ``K`` consecutive bins of
    equal size); scale ``k`` is the (population) standard deviation of bin
    ``k``, at least ``epsilon`` so that a bin of equal values still gives a
    proper distribution.

    The data are not stored in the configuration; a loaded model restores
    its scales from its saved weights (a rebuilt initializer without data
    returns ones as a placeholder).

    Args:
        data: Samples shaped like the leaf input, ``[N, *cells, d]``; cell
            axes of size 1 broadcast.
        epsilon: Smallest scale returned; must be positive.
    """

    placeholder_value = 1.0

    def __init__(self, data, epsilon=1e-3):
        super().__init__(data)
        if not epsilon > 0:
            raise ValueError(f"PoonDomingosStddevOfQuantileSplit: epsilon must be positive, got {epsilon}.")
        self.epsilon = float(epsilon)

    def get_config(self):
        return {"epsilon": self.epsilon}

    def estimate(self, data, num_components):
        stddevs = np.stack([bin_.std(axis=0) for bin_ in quantile_bins(data, num_components)], axis=1)
        return np.maximum(stddevs, self.epsilon)
