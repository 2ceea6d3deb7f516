"""Guards against misuse found in review: each test pins one behaviour that used to go wrong silently."""

import math

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp
from tensorflow import keras

from libspn_keras import layers, models, optimizers


def test_log_dropout_below_a_product_is_refused():
    with pytest.raises(ValueError, match="directly below DenseProduct"):
        models.SequentialSumProductNetwork(
            [
                keras.Input((4,), dtype="int32"),
                layers.FlatToRegions(num_decomps=1),
                layers.IndicatorLeaf(num_components=2),
                layers.LogDropout(0.1),
                layers.DenseProduct(num_factors=2),
            ]
        )


def test_undecompose_validates_its_argument():
    with pytest.raises(ValueError, match="num_decomps"):
        layers.Undecompose(num_decomps=0)


def test_adapt_accepts_labelled_datasets():
    x = np.random.default_rng(1).normal(loc=2.0, size=(40, 3)).astype("float32")
    labelled = tf.data.Dataset.from_tensor_slices((x, np.zeros(40))).batch(16)
    layer = layers.NormalizeStandardScore(axes="variable_wise")
    layer.adapt(labelled)
    np.testing.assert_allclose(layer.mean.numpy(), x.mean(axis=0), rtol=1e-5)
