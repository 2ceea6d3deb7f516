"""Common base of the initializers that estimate leaf parameters from data."""

import copy

import numpy as np
import tensorflow as tf
from tensorflow import keras


def as_samples(data, owner):
    """``data`` as a float64 array ``[N, ...]``: an array-like, or a batched ``tf.data.Dataset``.

    Dataset elements that are tuples (``(x, y)`` or ``(x, y, weights)``)
    contribute their first entry.
    """
    if isinstance(data, tf.data.Dataset):
        batches = [np.asarray(element[0] if isinstance(element, (tuple, list)) else element) for element in data]
        if not batches:
            raise ValueError(f"{owner}: the dataset is empty.")
        data = np.concatenate(batches, axis=0)
    data = np.asarray(data, dtype=np.float64)
    if data.ndim < 2:
        raise ValueError(f"{owner}: data must have shape [N, *cells, d] (rank >= 2), got {data.shape}.")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{owner}: data contains NaN or infinite values.")
    return data


class DataInitializerBase(keras.initializers.Initializer):
    """Leaf parameters ``[*cells, K, d]`` estimated from samples ``[N, *cells, d]`` shaped like the leaf input.

    Axes of size 1 in the data's cells broadcast: data ``[N, vars, 1, d]``
    serves a leaf behind ``FlatToRegions`` with any number of decompositions
    (every decomposition then starts from the same estimates). The data must
    be finite (no NaN for missing values). Give them to the constructor or,
    as in 0.6.0, to :meth:`adapt` later.

    The data are used only when a layer first builds its weights and are
    never part of the configuration: ``get_config`` stores only the
    small settings. An initializer rebuilt by ``from_config`` (as when a
    saved model is loaded) holds no data and returns a placeholder
    (``placeholder_value``) that the saved weights then overwrite, so a
    loaded model keeps the estimates it was saved with.

    Args:
        data: Array-like ``[N, *cells, d]`` or a batched ``tf.data.Dataset``
            of such batches (of ``x`` or ``(x, y)``); ``None`` to call
            :meth:`adapt` later.
    """

    placeholder_value = 0.0

    def __init__(self, data=None):
        self.data = None
        self.restored = False
        if data is not None:
            self.adapt(data)

    def adapt(self, data):
        """Sets the samples to estimate from: an array-like ``[N, *cells, d]`` or a batched ``tf.data.Dataset``."""
        self.data = as_samples(data, type(self).__name__)

    @classmethod
    def from_config(cls, config):
        # Through the constructor, so that settings missing from the config (as in 0.6.0's KMeans config,
        # which holds only five of them) take their defaults and given ones are checked.
        instance = cls(**config)
        instance.restored = True
        return instance

    def get_config(self):
        return {}

    def clone(self):
        """A copy that shares the data (the default clone goes through the config, which holds none)."""
        return copy.copy(self)

    def __call__(self, shape, dtype=None):
        shape = tuple(int(s) for s in shape)
        dtype = dtype or "float32"
        if self.data is None:
            if self.restored:
                return tf.fill(shape, tf.constant(self.placeholder_value, dtype))
            raise RuntimeError(
                f"{type(self).__name__} has no data to estimate from: pass data=... or call adapt(data) before "
                f"the layer is built."
            )
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
        values = self.estimate_cells(self.data, num_components)
        return tf.constant(np.broadcast_to(values, shape), dtype=dtype)

    def estimate_cells(self, data, num_components):
        """Parameters ``[*data_cells, K, d]`` from samples ``[N, *data_cells, d]``."""
        if data.shape[0] < num_components:
            raise ValueError(
                f"{type(self).__name__}: {data.shape[0]} samples cannot fill {num_components} components; "
                f"pass at least as many samples as components."
            )
        flat = data.reshape(data.shape[0], -1, data.shape[-1])
        values = self.estimate(flat, num_components)
        return values.reshape(data.shape[1:-1] + (num_components, data.shape[-1]))

    def estimate(self, data, num_components):
        """Parameters ``[C, K, d]`` from samples ``[N, C, d]`` of ``C`` cells, as a numpy array."""
        raise NotImplementedError
