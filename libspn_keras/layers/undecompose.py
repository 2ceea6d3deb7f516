"""Folds decompositions into the node axis once a single scope is left."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.cell_scopes import (
    JOIN_CELLS_ADVICE,
    cell_scopes,
    record_cell_scopes,
    refuse_cells_of_different_scopes,
)
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_known, check_rank, positive_int


@keras.utils.register_keras_serializable(package="libspn_keras")
class Undecompose(FullPrecisionLayer):
    """``[batch, 1, decomps, nodes]`` -> ``[batch, 1, num_decomps, (decomps / num_decomps) * nodes]``.

    Neighbouring decompositions are joined into ``num_decomps`` groups, with
    their nodes side by side, so that a sum above can mix them: output
    decomposition ``j`` holds input decompositions ``j * g .. (j + 1) * g - 1``
    with ``g = decomps / num_decomps``. As in 0.6.0, ``num_decomps`` is the
    number of decompositions that come out.

    Args:
        num_decomps: Decompositions of the output; it must divide the input's.
            Default 1: all decompositions joined into one.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, num_decomps=1, **kwargs):
        super().__init__(**kwargs)
        self.num_decomps = positive_int(f"Undecompose '{self.name}'", "num_decomps", num_decomps)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, 1, decomps, nodes]")
        check_known(self, input_shape, (1, 2, 3), "scopes, decompositions and nodes")
        if input_shape[1] != 1:
            raise ValueError(
                f"Undecompose '{self.name}' needs a single scope, but its input {tuple(input_shape)} has "
                f"{input_shape[1]} scopes. Join them first with DenseProduct / ReduceProduct."
            )
        if input_shape[2] % self.num_decomps:
            raise ValueError(
                f"Undecompose '{self.name}': num_decomps={self.num_decomps} (the decompositions of the output) "
                f"must divide the {input_shape[2]} decompositions of the input."
            )

    def call(self, x):
        return tf.reshape(x, [-1, 1, self.num_decomps, x.shape[2] // self.num_decomps * x.shape[3]])

    def compute_output_spec(self, x, *args, **kwargs):
        output = super().compute_output_spec(x, *args, **kwargs)
        if self.built:  # on a spatial tensor, the cells of every group along axis 2 are what it joins: of one scope
            refuse_cells_of_different_scopes(
                x,
                f"Undecompose '{self.name}'",
                "sums above it would mix nodes of different scopes",
                JOIN_CELLS_ADVICE + ", then SpatialToRegions.",
                column_groups=self.num_decomps,
            )
            scopes = cell_scopes(x, recorded_only=True)
            if scopes is not None:  # the groups' cells, for the layers above
                rows, cols = scopes
                scopes = (rows, cols[:: cols.shape[0] // self.num_decomps])
            record_cell_scopes(output, scopes, x)
        return output

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, self.num_decomps, input_shape[2] // self.num_decomps * input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(num_decomps=self.num_decomps)
        return config
