"""Queries leave the model's sum ops as they were, and refuse completions a sample-wise normalizer cannot undo.

``mpe`` / ``sample`` / ``complete`` swap a query sum op (max-product, sampling, gradient) into every sum layer for
the duration of the query only: afterwards the layers hold their own ops again and the model computes what it did
before. A sample-wise ``NormalizeStandardScore`` needs at least 2 observed entries of a sample to map values back.
"""

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers, models
from libspn_keras.layers.base_sum import SumLayerBase


def normal_spn(sum_op="em", normalizer=None):
    stack = [keras.Input((4,))]
    if normalizer is not None:
        stack.append(layers.NormalizeStandardScore(axes=normalizer))
    stack += [
        layers.FlatToRegions(num_decomps=1),
        layers.NormalLeaf(num_components=2),
        layers.DenseSum(num_sums=2, sum_op=sum_op),
        layers.ReduceProduct(num_factors=4),
        layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op),
    ]
    return models.SequentialSumProductNetwork(stack)


@pytest.mark.parametrize("sum_op", ["em", "hard_em", "grad"])
def test_queries_restore_every_sum_layers_own_op(sum_op):
    keras.utils.set_random_seed(0)
    model = normal_spn(sum_op)
    sum_layers = [layer for layer in model.layers if isinstance(layer, SumLayerBase)]
    own_ops = [layer.sum_op for layer in sum_layers]
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    before = model.predict(x, verbose=0)
    partial = x.copy()
    partial[:, 1] = np.nan
    model.mpe(partial, seed=0)
    model.complete(partial, method="sample", seed=0)
    model.complete(partial)
    model.sample(3, seed=0)
    assert [layer.sum_op for layer in sum_layers] == own_ops
    assert all(layer.sum_op is op for layer, op in zip(sum_layers, own_ops))
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)


def test_sample_wise_normalizer_needs_two_observed_entries_per_sample():
    keras.utils.set_random_seed(0)
    model = normal_spn("grad", normalizer="sample_wise")
    x = np.random.default_rng(2).normal(size=(2, 4)).astype("float32")
    two_observed = x.copy()
    two_observed[:, 2:] = np.nan
    assert np.all(np.isfinite(model.complete(two_observed)))
    one_observed = x.copy()
    one_observed[1, 1:] = np.nan  # the second sample has a single observed entry: no standard deviation
    with pytest.raises(ValueError, match="at least 2 observed entries"):
        model.complete(one_observed)
    with pytest.raises(ValueError, match="at least 2 observed entries"):
        model.sample(2, seed=0)
