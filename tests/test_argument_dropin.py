"""Argument values libspn-keras 0.6.0 accepted keep working; bad ones fail early and name the owner."""

import numpy as np
import pytest
import tensorflow as tf

from libspn_keras import constraints, layers, sum_ops
from libspn_keras.models import SequentialSumProductNetwork


@pytest.mark.parametrize("flag", [0, 1, np.int64(1)])
def test_bool_arguments_take_0_and_1_as_in_060(flag):
    assert layers.DenseSum(num_sums=2, logspace_accumulators=flag).logspace_accumulators is bool(flag)
    assert layers.NormalLeaf(num_components=2, location_trainable=flag).location_trainable is bool(flag)
    assert layers.NormalLeaf(num_components=2, use_accumulators=flag).use_accumulators is bool(flag)
    assert layers.RootSum(return_weighted_child_logits=flag).return_weighted_child_logits is bool(flag)
    assert layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=flag).depthwise is bool(flag)
    assert sum_ops.SumOpGradBackprop(logspace_accumulators=flag).logspace_accumulators is bool(flag)
    model = SequentialSumProductNetwork([layers.DenseSum(num_sums=1)], infer_weighted_sum=flag, unsupervised=flag)
    assert model.infer_weighted_sum is bool(flag)


@pytest.mark.parametrize("flag", [2, -1, "True"])
def test_bool_arguments_still_refuse_other_values(flag):
    with pytest.raises(ValueError, match="DenseSum .*logspace_accumulators must be"):
        layers.DenseSum(num_sums=2, logspace_accumulators=flag)


def test_conv_strides_and_dilations_take_whole_floats_as_in_060():
    layer = layers.Conv2DProduct(strides=[2.0, 2.0], dilations=[1.0, np.float32(1.0)], kernel_size=[2, 2])
    assert layer.strides == (2, 2) and layer.dilations == (1, 1)
    assert all(type(v) is int for v in layer.strides + layer.dilations)
    with pytest.raises(ValueError, match="Conv2DProduct .*strides must be"):
        layers.Conv2DProduct(strides=[1.5, 2], dilations=1, kernel_size=2)


def test_log_dropout_refuses_fractional_noise_shape():
    with pytest.raises(ValueError, match="LogDropout .*noise_shape must be"):
        layers.LogDropout(rate=0.5, noise_shape=[1.5, 1, 2])
    assert layers.LogDropout(rate=0.5, noise_shape=np.array([1, 1, 2])).noise_shape == [1, 1, 2]


@pytest.mark.parametrize(
    "constraint, name",
    [
        (constraints.GreaterEqualEpsilonNormalized(axis=5), "GreaterEqualEpsilonNormalized"),
        (constraints.LogNormalized(axis=-5), "LogNormalized"),
    ],
)
def test_normalizing_constraints_name_an_axis_out_of_range(constraint, name):
    with pytest.raises(ValueError, match=rf"{name}: axis -?5 is not an axis"):
        constraint(tf.ones((4, 1, 2, 2)))
    with pytest.raises(ValueError, match=rf"{name}: axis -?5 is not an axis"):
        tf.function(constraint)(tf.ones((4, 1, 2, 2)))


@pytest.mark.parametrize("constraint", [constraints.LogNormalized, constraints.GreaterEqualEpsilonNormalized])
def test_the_axis_check_skips_a_tensor_of_unknown_rank(constraint):
    apply = tf.function(lambda t: constraint(axis=-1)(t), input_signature=[tf.TensorSpec(None, tf.float32)])
    w = np.array([[1.0, 3.0], [2.0, 2.0]], np.float32)
    np.testing.assert_allclose(apply(w).numpy(), constraint(axis=-1)(tf.constant(w)).numpy(), rtol=1e-6)
    if constraint is constraints.LogNormalized:
        np.testing.assert_allclose(apply(w).numpy(), w - np.log(np.exp(w).sum(-1, keepdims=True)), rtol=1e-6)


def test_out_of_range_axis_of_a_variable_or_array_is_refused():
    with pytest.raises(ValueError, match="not an axis"):
        constraints.LogNormalized(axis=2)(tf.Variable(tf.zeros([2, 3])))
    with pytest.raises(ValueError, match="not an axis"):
        constraints.GreaterEqualEpsilonNormalized(axis=-3)(np.ones([2, 3], np.float32))


def test_keras_2_base_arguments_bind_as_in_060():
    # 0.6.0's layers passed Keras 2's base arguments on: `dynamic` (which Keras 3 dropped) by keyword on any layer,
    # and (trainable, name, dtype, dynamic) by position on SpatialToRegions, which had no arguments of its own.
    positional = layers.SpatialToRegions(False, "regions", "float64", False)
    assert (positional.trainable, positional.name, positional.dtype) == (False, "regions", "float64")
    for layer in (
        layers.SpatialToRegions(dynamic=False),
        layers.DenseSum(num_sums=2, dynamic=0),
        layers.NormalLeaf(num_components=2, dynamic=False),
        layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, dynamic=False),
    ):
        assert layer.trainable and type(layer).from_config(layer.get_config()).trainable
    with pytest.warns(UserWarning, match="DenseProduct: dynamic=True is ignored"):
        layers.DenseProduct(num_factors=2, dynamic=True)
    with pytest.raises(ValueError, match="SpatialToRegions: dynamic must be True or False"):
        layers.SpatialToRegions(dynamic="no")
