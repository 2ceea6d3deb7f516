"""Log-space kernels shared by the layers."""

from libspn_keras.math.log_matmul import log_matmul, log_outer_matmul, logspace_max_product
from libspn_keras.math.routing import argmax_one_hot, route_to_children, route_to_weights, sample_one_hot
from libspn_keras.math.spatial import kernel_window_slices, pad_log_space, spatial_output_size, spatial_padding
from libspn_keras.math.stable import finite_max

__all__ = [
    "argmax_one_hot",
    "finite_max",
    "kernel_window_slices",
    "log_matmul",
    "log_outer_matmul",
    "logspace_max_product",
    "pad_log_space",
    "route_to_children",
    "route_to_weights",
    "sample_one_hot",
    "spatial_output_size",
    "spatial_padding",
]
