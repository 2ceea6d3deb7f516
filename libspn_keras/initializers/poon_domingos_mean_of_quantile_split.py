"""Leaf locations from the means of quantile bins (Poon & Domingos, 2011)."""

import numpy as np
from tensorflow import keras

from libspn_keras.initializers.data_based import DataInitializerBase, quantile_bins


@keras.utils.register_keras_serializable(package="libspn_keras")
class PoonDomingosMeanOfQuantileSplit(DataInitializerBase):
    """Leaf locations ``[*cells, K, d]``: the means of ``K`` equal-size quantile bins, as in Poon & Domingos (2011).

    Each variable's (cell's and dimension's) ``N`` samples are sorted and
    split into ``K`` consecutive bins of equal size (sizes differ by at most
    one when ``K`` does not divide ``N``); component ``k`` sits at the mean
    of bin ``k``, so locations increase with ``k``. Pair with
    :class:`~libspn_keras.initializers.PoonDomingosStddevOfQuantileSplit`
    for the scales.

    The data are not stored in the configuration; a loaded model restores
    its locations from its saved weights.

    Args:
        data: Samples shaped like the leaf input, ``[N, *cells, d]``; cell
            axes of size 1 broadcast.
    """

    def estimate(self, data, num_components):
        return np.stack([bin_.mean(axis=0) for bin_ in quantile_bins(data, num_components)], axis=1)
