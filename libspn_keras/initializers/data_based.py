"""Common base of the initializers that estimate leaf parameters from data."""

import copy

import numpy as np
import tensorflow as tf
from tensorflow import keras


class DataInitializerBase(keras.initializers.Initializer):
    """Leaf parameters ``[*cells, K, d]`` estimated from samples ``[N, *cells, d]`` shaped like the leaf input.

    Axes of size 1 in the data's cells broadcast: data ``[N, vars, 1, d]``
    serves a leaf behind ``FlatToRegions`` with any number of decompositions
    (every decomposition then starts from the same estimates). The data must
    be finite (no NaN for missing values).

    The data are used only when a layer first builds its weights and are
    never part of the configuration: :meth:`get_config` stores only the
    small settings. An initializer rebuilt by :meth:`from_config` (as when a
    saved model is loaded) holds no data and returns a placeholder
    (:attr:`placeholder_value`) that the saved weights then overwrite, so a
    loaded model keeps the estimates it was saved with.

    Args:
        data: Array-like ``[N, *cells, d]``.
    """

    placeholder_value = 0.0

    def __init__(self, data):
        if data is None:
            raise ValueError(f"{type(self).__name__}: needs data shaped like the leaf input [N, *cells, d]; got None.")
        data = np.asarray(data, dtype=np.float64)
        if data.ndim < 2:
            raise ValueError(
                f"{type(self).__name__}: data must have shape [N, *cells, d] (rank >= 2), got {data.shape}."
            )
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{type(self).__name__}: data contains NaN or infinite values.")
        self.data = data

    @classmethod
    def from_config(cls, config):
        instance = cls.__new__(cls)
        instance.data = None
        instance._set_config(dict(config))
        return instance

    def _set_config(self, config):
        """Restores the settings of :meth:`get_config` on an instance made by :meth:`from_config`."""
        for key, value in config.items():
            setattr(self, key, value)

    def get_config(self):
        return {}

    def clone(self):
        """A copy that shares the data (the default clone goes through the config, which holds none)."""
        return copy.copy(self)

    def __call__(self, shape, dtype=None):
        shape = tuple(int(s) for s in shape)
        dtype = dtype or "float32"
        if self.data is None:
            return tf.fill(shape, tf.constant(self.placeholder_value, dtype))
        if len(shape) < 2:
            raise ValueError(f"{type(self).__name__}: expects a shape [*cells, K, d] of rank >= 2, got {shape}.")
        cells, num_components, dims = shape[:-2], shape[-2], shape[-1]
        data_cells = self.data.shape[1:-1]
        compatible = (
            len(data_cells) == len(cells)
            and self.data.shape[-1] == dims
            and all(dc in (1, c) for dc, c in zip(data_cells, cells))
        )
        if not compatible:
            raise ValueError(
                f"{type(self).__name__}: data of shape {self.data.shape} does not match parameters of shape "
                f"{shape}; the data must be shaped like the leaf input [N, {', '.join(map(str, cells))}, {dims}] "
                f"(cell axes of size 1 broadcast)."
            )
        if self.data.shape[0] < num_components:
            raise ValueError(
                f"{type(self).__name__}: {self.data.shape[0]} samples cannot fill {num_components} components; "
                f"pass at least as many samples as components."
            )
        flat = self.data.reshape(self.data.shape[0], -1, dims)
        values = self.estimate(flat, num_components)
        values = values.reshape(tuple(data_cells) + (num_components, dims))
        return tf.constant(np.broadcast_to(values, shape), dtype=dtype)

    def estimate(self, data, num_components):
        """Parameters ``[C, K, d]`` from samples ``[N, C, d]`` of ``C`` cells, as a numpy array."""
        raise NotImplementedError


def quantile_bins(data, num_components):
    """Each variable's samples ``[N, C, d]`` sorted and split into ``K`` bins of (nearly) equal size.

    Returns a list of ``K`` arrays ``[n_k, C, d]``; sizes differ by at most one.
    """
    return np.array_split(np.sort(data, axis=0), num_components, axis=0)
