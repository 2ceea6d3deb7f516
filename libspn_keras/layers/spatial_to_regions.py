"""Turns a spatial tensor into a region tensor with a single scope."""

import math

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.cell_scopes import JOIN_CELLS_ADVICE, record_one_cell, refuse_cells_of_different_scopes
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_known, check_rank


@keras.utils.register_keras_serializable(package="libspn_keras")
class SpatialToRegions(FullPrecisionLayer):
    """``[batch, rows, cols, channels]`` -> ``[batch, 1, 1, rows * cols * channels]``.

    Use it after the last product of a DGC-SPN, whose cells all cover the whole
    image, so that dense sum layers and a root can mix every node. Built on
    the cells of an image (a leaf's output, and the products and sums above
    it), it refuses cells that cover different parts of the image (sums over
    them would not be complete). Region tensors from ``FlatToRegions`` are
    checked the same way: they pass once products have joined their scopes
    into one, and are refused while they hold several.

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
        if self.built:
            refuse_cells_of_different_scopes(
                x,
                f"SpatialToRegions '{self.name}'",
                "sums above it would mix nodes of different scopes",
                JOIN_CELLS_ADVICE + ".",
            )
            return record_one_cell(output, x)
        return output

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, 1, math.prod(input_shape[1:]))
