"""Log-space kernels shared by the layers."""

from libspn_keras.math.blockwise import blockwise_log_matmul, max_plus_matmul
from libspn_keras.math.log_matmul import log_matmul, log_outer_matmul
from libspn_keras.math.products import log_outer_product
from libspn_keras.math.routing import argmax_one_hot, choose_child, route_signal, sample_one_hot
from libspn_keras.math.spatial import kernel_window_slices, pad_log_space, spatial_output_size, spatial_padding
from libspn_keras.math.stable import finite_max

__all__ = [
    "argmax_one_hot",
    "blockwise_log_matmul",
    "choose_child",
    "finite_max",
    "kernel_window_slices",
    "log_matmul",
    "log_outer_matmul",
    "log_outer_product",
    "max_plus_matmul",
    "pad_log_space",
    "route_signal",
    "sample_one_hot",
    "spatial_output_size",
    "spatial_padding",
]
