"""Sums with separate weights at every cell of a spatial tensor."""

from tensorflow import keras

from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.validation import check_known, check_rank


@keras.utils.register_keras_serializable(package="libspn_keras")
class Local2DSum(DenseSum):
    """``num_sums`` sums per cell over that cell's channels, with weights local to each cell.

    Input ``[batch, rows, cols, channels]``, output
    ``[batch, rows, cols, num_sums]``; accumulators
    ``[rows, cols, channels, num_sums]`` (no sharing across cells).

    A :class:`~libspn_keras.layers.DenseSum` on spatial input, as in 0.6.0.

    Args:
        num_sums: Number of sums per cell.
        **kwargs: Sum-layer arguments of
            :class:`~libspn_keras.layers.base_sum.SumLayerBase`.
    """

    fuses_with_region_products = False

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, rows, cols, channels]")
        check_known(self, input_shape, (1, 2, 3), "rows, cols and channels")
        _, rows, cols, channels = input_shape
        self.build_accumulators([rows, cols, channels, self.num_sums])
