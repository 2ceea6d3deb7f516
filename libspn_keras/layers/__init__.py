"""Keras layers of Sum-Product Networks; one class per module."""

from libspn_keras.layers.base_leaf import BaseLeaf, LeafBase
from libspn_keras.layers.base_sum import NodeSumLayerBase, SumLayerBase
from libspn_keras.layers.cauchy_leaf import CauchyLeaf
from libspn_keras.layers.conv2d_product import Conv2DProduct
from libspn_keras.layers.conv2d_sum import Conv2DSum
from libspn_keras.layers.dense_product import DenseProduct
from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.flat_to_regions import FlatToRegions
from libspn_keras.layers.indicator_leaf import IndicatorLeaf
from libspn_keras.layers.input_dropout import InputDropout
from libspn_keras.layers.laplace_leaf import LaplaceLeaf
from libspn_keras.layers.leaf_representation import LeafRepresentation
from libspn_keras.layers.local2d_sum import Local2DSum
from libspn_keras.layers.location_scale_leaf import LocationScaleLeafBase
from libspn_keras.layers.log_dropout import LogDropout
from libspn_keras.layers.normal_leaf import NormalLeaf
from libspn_keras.layers.normalize_standard_score import NormalizeAxes, NormalizeStandardScore
from libspn_keras.layers.permute_and_pad_scopes import PermuteAndPadScopes
from libspn_keras.layers.permute_and_pad_scopes_random import PermuteAndPadScopesRandom
from libspn_keras.layers.reduce_product import ReduceProduct
from libspn_keras.layers.root_sum import RootSum
from libspn_keras.layers.spatial_to_regions import SpatialToRegions
from libspn_keras.layers.temporal_dense_product import TemporalDenseProduct
from libspn_keras.layers.undecompose import Undecompose

__all__ = [
    "BaseLeaf",
    "CauchyLeaf",
    "Conv2DProduct",
    "Conv2DSum",
    "DenseProduct",
    "DenseSum",
    "FlatToRegions",
    "IndicatorLeaf",
    "InputDropout",
    "LaplaceLeaf",
    "LeafBase",
    "LeafRepresentation",
    "Local2DSum",
    "LocationScaleLeafBase",
    "LogDropout",
    "NodeSumLayerBase",
    "NormalLeaf",
    "NormalizeAxes",
    "NormalizeStandardScore",
    "PermuteAndPadScopes",
    "PermuteAndPadScopesRandom",
    "ReduceProduct",
    "RootSum",
    "SpatialToRegions",
    "SumLayerBase",
    "TemporalDenseProduct",
    "Undecompose",
]
