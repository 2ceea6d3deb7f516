"""Turns a spatial tensor into a region tensor with a single scope."""

import math

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.cell_scopes import cell_scopes, describe_cells
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_known, check_rank


@keras.utils.register_keras_serializable(package="libspn_keras")
class SpatialToRegions(FullPrecisionLayer):
    """``[batch, rows, cols, channels]`` -> ``[batch, 1, 1, rows * cols * channels]``.

    Use it after the last product of a DGC-SPN, whose cells all cover the whole
    image, so that dense sum layers and a root can mix every node. Built above
    ``Conv2DProduct`` layers, it refuses cells that cover different parts of
    the image (sums over them would not be complete).

    Args:
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, rows, cols, channels]")
        check_known(self, input_shape, (1, 2, 3), "rows, cols and channels")

    def call(self, x):
        return tf.reshape(x, [-1, 1, 1, math.prod(x.shape[1:])])

    def compute_output_spec(self, x, *args, **kwargs):
        output = super().compute_output_spec(x, *args, **kwargs)
        scopes = cell_scopes(x, recorded_only=True)
        if scopes is not None and self.built:
            for axis, axis_name in enumerate(("row", "column")):
                cover = scopes[axis]
                differs = np.flatnonzero((cover != cover[:1]).any(axis=1))
                if differs.size or not cover.all():
                    other = differs[0] if differs.size else 0
                    raise ValueError(
                        f"SpatialToRegions '{self.name}': its input cells cover different parts of the image (along "
                        f"axis {axis}, cell 0 covers image {describe_cells(cover[0], axis_name)} and cell {other} "
                        f"{describe_cells(cover[other], axis_name)}), so sums above it would mix nodes of different "
                        f"scopes. Join every cell into one scope first: end the spatial products with a "
                        f"Conv2DProduct with padding='final' (dilations doubled at every overlapping product), or "
                        f"with windows that tile the whole remaining grid."
                    )
        return output

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, 1, math.prod(input_shape[1:]))
