"""Leaf parameters from equal-size quantile bins of data (Poon & Domingos, 2011)."""

import numpy as np
from tensorflow import keras

from libspn_keras.arguments import check_float
from libspn_keras.initializers.data_based import DataInitializerBase


class PoonDomingosQuantileSplitBase(DataInitializerBase):
    """Splits each variable's samples into ``K`` consecutive quantile bins and summarizes every bin.

    Each variable's (cell's and dimension's) ``N`` samples are sorted and
    split into ``K`` bins of equal size (sizes differ by at most one when
    ``K`` does not divide ``N``; 0.6.0 could produce a different number of
    bins then); component ``k`` is computed from bin ``k`` by :meth:`summarize`.

    Args:
        data: Samples shaped like the leaf input, ``[N, *cells, d]`` (cell axes
            of size 1 broadcast), or a batched ``tf.data.Dataset``; or
            ``None`` and :meth:`~libspn_keras.initializers.DataInitializerBase.adapt`
            later, as in 0.6.0.
    """

    def estimate(self, data, num_components):
        bins = np.array_split(np.sort(data, axis=0), num_components, axis=0)
        return np.stack([self.summarize(bin_) for bin_ in bins], axis=1)

    def summarize(self, samples):
        """One value per cell and dimension ``[C, d]`` from the samples ``[n, C, d]`` of a bin."""
        raise NotImplementedError


@keras.utils.register_keras_serializable(package="libspn_keras")
class PoonDomingosMeanOfQuantileSplit(PoonDomingosQuantileSplitBase):
    """Leaf locations ``[*cells, K, d]``: the means of ``K`` equal-size quantile bins (Poon & Domingos, 2011).

    Locations increase with ``k``. Pair with
    :class:`~libspn_keras.initializers.PoonDomingosStddevOfQuantileSplit`
    for the scales. The data are not stored in the configuration; a loaded
    model restores its locations from its saved weights.

    Args:
        data: Samples shaped like the leaf input, ``[N, *cells, d]``, or a
            batched ``tf.data.Dataset``; or ``None`` and
            :meth:`~libspn_keras.initializers.DataInitializerBase.adapt` later.
    """

    def summarize(self, samples):
        return samples.mean(axis=0)


@keras.utils.register_keras_serializable(package="libspn_keras")
class PoonDomingosStddevOfQuantileSplit(PoonDomingosQuantileSplitBase):
    """Leaf scales ``[*cells, K, d]``: the standard deviations of ``K`` equal-size quantile bins.

    The bins are those of
    :class:`~libspn_keras.initializers.PoonDomingosMeanOfQuantileSplit`;
    scale ``k`` is the (population) standard deviation of bin ``k``, at least
    ``epsilon`` so that a bin of equal values still gives a proper
    distribution. A rebuilt initializer without data returns ones as a
    placeholder that the saved weights overwrite.

    Args:
        data: Samples shaped like the leaf input, ``[N, *cells, d]``, or a
            batched ``tf.data.Dataset``; or ``None`` and
            :meth:`~libspn_keras.initializers.DataInitializerBase.adapt` later.
        epsilon: Smallest scale returned; must be positive.
    """

    placeholder_value = 1.0

    def __init__(self, data=None, epsilon=1e-3):
        self.epsilon = check_float("PoonDomingosStddevOfQuantileSplit", "epsilon", epsilon, 0.0, min_open=True)
        super().__init__(data)

    def get_config(self):
        return {"epsilon": self.epsilon}

    def summarize(self, samples):
        return np.maximum(samples.std(axis=0), self.epsilon)
