"""Sums whose weights are shared by all cells of a spatial tensor."""

from tensorflow import keras

from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.validation import check_known, check_rank


@keras.utils.register_keras_serializable(package="libspn_keras")
class Conv2DSum(DenseSum):
    """``num_sums`` sums per cell over that cell's channels, with one set of weights for all cells.

    Input ``[batch, rows, cols, channels]``, output
    ``[batch, rows, cols, num_sums]``; accumulators ``[channels, num_sums]``.

    A :class:`~libspn_keras.layers.DenseSum` on spatial input, as in 0.6.0.

    Args:
        num_sums: Number of sums per cell.
        **kwargs: Sum-layer arguments of
            :class:`~libspn_keras.layers.base_sum.SumLayerBase`.
    """

    fuses_with_region_products = False

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, rows, cols, channels]")
        check_known(self, input_shape, (3,), "channels")
        self.build_accumulators([input_shape[-1], self.num_sums])
