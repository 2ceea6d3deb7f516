"""DenseProduct / ReduceProduct on spatial tensors whose cells a Conv2DProduct recorded: overlapping rows are refused
at build time, and the joined rows' cover is kept for the layers that mix cells above."""

import numpy as np
import pytest
from reference import all_binary, eager_total, np_logsumexp
from tensorflow import keras

from libspn_keras import layers


def _conv(**kwargs):
    return layers.Conv2DProduct(strides=[1, 1], dilations=[1, 1], **kwargs)


def test_dense_product_of_overlapping_rows_is_refused():
    # 'full' padding: rows cover image rows {0}, {0, 1}, {1}; a product of all three is not decomposable.
    def stack():
        return [
            layers.IndicatorLeaf(num_components=2),
            _conv(kernel_size=[2, 1], padding="full", num_channels=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=3),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False),
        ]

    assert abs(eager_total(stack(), (2, 1, 1)) - 1.0) > 1e-3  # eager, unchecked: not a distribution
    with pytest.raises(ValueError, match="DenseProduct '.*'.*not decomposable"):
        keras.Sequential([keras.Input((2, 1, 1), dtype="int32")] + stack())


def test_reduce_product_keeps_the_cover_so_mixing_different_columns_is_refused():
    def stack():
        return [
            layers.IndicatorLeaf(num_components=2),
            _conv(kernel_size=[1, 1], padding="valid", depthwise=True),
            layers.ReduceProduct(num_factors=2),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False),
        ]

    assert abs(eager_total(stack(), (2, 2, 1)) - 1.0) > 1e-3
    with pytest.raises(ValueError, match="SpatialToRegions '.*'.*cover different parts"):
        keras.Sequential([keras.Input((2, 2, 1), dtype="int32")] + stack())


def test_disjoint_rows_are_accepted_and_normalized():
    stack = [
        keras.Input((2, 1, 1), dtype="int32"),
        layers.IndicatorLeaf(num_components=2),
        _conv(kernel_size=[1, 1], padding="valid", depthwise=True),
        layers.DenseProduct(num_factors=2),
        layers.SpatialToRegions(),
        layers.RootSum(return_weighted_child_logits=False),
    ]
    model = keras.Sequential(stack)
    images = all_binary(2).reshape(-1, 2, 1, 1).astype(np.int32)
    np.testing.assert_allclose(np_logsumexp(model(images).numpy()[:, 0].astype(np.float64)), 0.0, atol=1e-5)


def test_region_tensors_are_not_affected():
    model = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            layers.FlatToRegions(num_decomps=3),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=2),
            layers.ReduceProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    np.testing.assert_allclose(np_logsumexp(model(all_binary(4).astype(np.int32)).numpy()[:, 0]), 0.0, atol=1e-5)
