"""Entry point of region SPNs: every decomposition sees every variable."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.cell_scopes import mark_region_layout
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_known, positive_int


@keras.utils.register_keras_serializable(package="libspn_keras")
class FlatToRegions(FullPrecisionLayer):
    """``[batch, vars]`` or ``[batch, vars, d]`` -> ``[batch, vars, num_decomps, d]``.

    Each variable becomes one scope, repeated for every decomposition, ready
    for a leaf layer.

    Args:
        num_decomps: Number of decompositions (repetitions).
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``dtype="int32"`` for
            categorical inputs).
    """

    # Position i of the output holds variable i of the input (see layers.cell_scopes.variable_source).
    keeps_variable_positions = True

    checks_built_shape = False  # the leaf above checks the variables, naming their layout

    def __init__(self, num_decomps, **kwargs):
        super().__init__(**kwargs)
        self.num_decomps = positive_int(f"FlatToRegions '{self.name}'", "num_decomps", num_decomps)

    def build(self, input_shape):
        if len(input_shape) not in (2, 3):
            raise ValueError(
                f"FlatToRegions '{self.name}' expects input [batch, vars] or [batch, vars, d], got shape "
                f"{tuple(input_shape)}. Flatten images first (keras.layers.Flatten)."
            )
        check_known(self, input_shape, range(1, len(input_shape)), "the variables")

    def call(self, inputs):  # 0.6.0's argument name, so layer(inputs=x) binds as it did
        x = inputs
        if not hasattr(x, "shape") or (x.shape.rank is not None and x.shape.rank < 2):  # the leaf checks the rest
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(
                f"FlatToRegions '{self.name}' expects input [batch, vars] or [batch, vars, d], got {shape}. Pass one "
                f"array with a batch axis (x[None] for a single sample)."
            )
        if x.shape.rank == 2:
            x = tf.expand_dims(x, axis=-1)
        return tf.tile(tf.expand_dims(x, axis=2), [1, 1, self.num_decomps, 1])

    def compute_output_shape(self, input_shape):
        dims = input_shape[2] if len(input_shape) == 3 else 1
        return (input_shape[0], input_shape[1], self.num_decomps, dims)

    def compute_output_spec(self, *args, **kwargs):
        # Its columns are decompositions of the same variables, not image columns: leaves must not read them as cells.
        return mark_region_layout(super().compute_output_spec(*args, **kwargs))

    def get_config(self):
        config = super().get_config()
        config.update(num_decomps=self.num_decomps)
        return config
