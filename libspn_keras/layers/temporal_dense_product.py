"""Products joining the interface of the previous time step with the template of the current one."""

from tensorflow import keras

from libspn_keras.layers.validation import check_rank
from libspn_keras.math.products import log_outer_product


@keras.utils.register_keras_serializable(package="libspn_keras")
class TemporalDenseProduct(keras.layers.Layer):
    """Outer product of the nodes at ``t - 1`` and at ``t``, for dynamic SPNs.

    Inputs ``[previous, current]`` of shapes ``[batch, 1, 1, n_prev]`` and
    ``[batch, 1, 1, n_cur]`` (single scopes, over the variables of steps
    ``1..t-1`` and of step ``t``); output ``[batch, 1, 1, n_prev * n_cur]``,
    node ``(i, j)`` being ``previous_i * current_j``.

    Args:
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"TemporalDenseProduct '{self.name}' takes a list [previous, current] of two inputs.")
        for shape in input_shape:
            check_rank(self, shape, 4, "[batch, 1, 1, nodes] for both inputs")
            if tuple(shape[1:3]) != (1, 1):
                raise ValueError(
                    f"TemporalDenseProduct '{self.name}' joins single scopes: both inputs must be "
                    f"[batch, 1, 1, nodes], "
                    f"got {tuple(shape)}. Reduce each time step to one scope first."
                )

    def call(self, inputs):
        previous, current = inputs
        return log_outer_product(previous, current)

    def compute_output_shape(self, input_shape):
        previous, current = input_shape
        return (previous[0], 1, 1, previous[-1] * current[-1])
