"""Products joining the interface of the previous time step with the template of the current one."""

from tensorflow import keras

from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_known, check_rank
from libspn_keras.math.products import log_outer_product


@keras.utils.register_keras_serializable(package="libspn_keras")
class TemporalDenseProduct(FullPrecisionLayer):
    """Outer product of the nodes at ``t - 1`` and at ``t``, for dynamic SPNs.

    Inputs ``[previous, current]`` of shapes ``[batch, scopes, decomps, n_prev]``
    and ``[batch, scopes, decomps, n_cur]`` (in a dynamic SPN usually single
    scopes, ``[batch, 1, 1, n]``, over the variables of steps ``1..t-1`` and
    of step ``t``); output ``[batch, scopes, decomps, n_prev * n_cur]``, node
    ``(i, j)`` of each scope and decomposition being ``previous_i * current_j``
    of that same scope and decomposition (as in 0.6.0).

    Args:
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and len(inputs) == 2 and inputs[0] is inputs[1]:
            raise ValueError(
                f"TemporalDenseProduct '{self.name}' got the same tensor as previous and current: a product of a scope "
                f"with itself is not decomposable (it squares the probabilities). Give it the interface of step t - 1 "
                f"and the template of step t."
            )
        if self.built and isinstance(inputs, (list, tuple)) and len(inputs) == 2:
            # The pair's own rules first; the base layer then checks each input against its built shape.
            self._check_shapes([getattr(tensor, "shape", None) for tensor in inputs])
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        self._check_shapes(input_shape)

    def _check_shapes(self, input_shape):
        if len(input_shape) != 2 or any(shape is None for shape in input_shape):
            raise ValueError(f"TemporalDenseProduct '{self.name}' takes a list [previous, current] of two inputs.")
        for shape in input_shape:
            check_rank(self, shape, 4, "[batch, scopes, decomps, nodes] for both inputs")
            check_known(self, shape, (1, 2, 3), "scopes, decompositions and nodes")
        previous, current = (tuple(shape) for shape in input_shape)
        if previous[1:3] != current[1:3]:
            raise ValueError(
                f"TemporalDenseProduct '{self.name}' multiplies scope by scope and decomposition by decomposition: "
                f"both inputs need the same [scopes, decomps], got {previous} and {current}."
            )

    def call(self, inputs):
        previous, current = inputs
        return log_outer_product(previous, current)

    def compute_output_shape(self, input_shape):
        previous, current = input_shape
        return (previous[0], previous[1], previous[2], previous[-1] * current[-1])
