"""0.6.0's sum-op arguments: SumOpGradBackprop(logspace_accumulators=...) and the accumulator space on swaps."""

import numpy as np
import pytest
from reference import all_binary, np_logsumexp
from tensorflow import keras

from libspn_keras import layers, models, sum_ops
from libspn_keras.sum_ops import SumOpEMBackprop, SumOpGradBackprop, SumOpSampleBackprop


def rat(sum_op):
    keras.utils.set_random_seed(0)
    return models.build_rat_spn(
        num_vars=4, depth=2, num_decomps=2, num_input_distributions=2, num_sums=2, sum_op=sum_op
    )


def sum_layers(model):
    return [layer for layer in model.layers if hasattr(layer, "accumulators")]


def test_logspace_accumulators_argument_sets_the_default_space_of_layers():
    assert layers.DenseSum(num_sums=2, sum_op=SumOpGradBackprop()).logspace_accumulators is True
    assert (
        layers.DenseSum(num_sums=2, sum_op=SumOpGradBackprop(logspace_accumulators=False)).logspace_accumulators
        is False
    )
    # The layer's own argument wins when the op leaves the space open; an explicit conflict raises.
    assert (
        layers.DenseSum(num_sums=2, sum_op=SumOpGradBackprop(), logspace_accumulators=False).logspace_accumulators
        is False
    )
    with pytest.raises(ValueError, match="logspace_accumulators"):
        layers.DenseSum(num_sums=2, sum_op=SumOpGradBackprop(logspace_accumulators=False), logspace_accumulators=True)
    with pytest.raises(ValueError, match="logspace_accumulators"):
        SumOpGradBackprop(logspace_accumulators="False")
    op = SumOpGradBackprop(logspace_accumulators=False)
    assert sum_ops.get(sum_ops.serialize(op)) == op and op != SumOpGradBackprop()
    layer = layers.DenseSum(num_sums=2, sum_op=op)
    assert layers.DenseSum.from_config(layer.get_config()).sum_op == op


def test_global_default_with_linear_accumulators_as_in_0_6_0():
    before = sum_ops.get_default_sum_op()
    try:
        sum_ops.set_default_sum_op(SumOpGradBackprop(logspace_accumulators=False))
        model = rat(None)
        assert all(layer.logspace_accumulators is False for layer in sum_layers(model))
        assert abs(np_logsumexp(model(all_binary(4)).numpy()[:, 0])) < 1e-5
    finally:
        sum_ops.set_default_sum_op(before)


def test_swapping_sum_ops_never_reinterprets_accumulators():
    model = rat("em")  # linear accumulators
    x = all_binary(4)
    expected = model(x).numpy()
    for layer in sum_layers(model):
        layer.sum_op = SumOpGradBackprop()  # keeps the layer's linear space
        assert layer.logspace_accumulators is False
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="logspace_accumulators"):
        sum_layers(model)[0].sum_op = SumOpGradBackprop(logspace_accumulators=True)
    for layer in sum_layers(model):
        layer.sum_op = SumOpSampleBackprop()
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-6)
    # Copying the weights into a model built for the same space gives the same distribution.
    target = rat(SumOpGradBackprop(logspace_accumulators=False))
    target.set_weights(model.get_weights())
    np.testing.assert_allclose(target(x).numpy(), expected, atol=1e-6)
    assert isinstance(rat("em").layers[-1].sum_op, SumOpEMBackprop)


def test_default_logspace_accumulators_is_a_method_as_in_060():
    # 0.6.0's sum ops answer default_logspace_accumulators() (a method); custom ops written for it define one.
    import libspn_keras as spnk

    assert spnk.SumOpGradBackprop().default_logspace_accumulators() is True
    assert spnk.SumOpGradBackprop(logspace_accumulators=False).default_logspace_accumulators() is False
    for op in (spnk.SumOpEMBackprop(), spnk.SumOpHardEMBackprop(), spnk.SumOpUnweightedHardEMBackprop()):
        assert op.default_logspace_accumulators() is False

    class LinearGrad(spnk.SumOpGradBackprop):
        def default_logspace_accumulators(self):
            return False

    class LogGradAttribute(spnk.SumOpGradBackprop):
        default_logspace_accumulators = True

    assert spnk.layers.DenseSum(num_sums=2, sum_op=LinearGrad()).logspace_accumulators is False
    assert spnk.layers.DenseSum(num_sums=2, sum_op=LogGradAttribute()).logspace_accumulators is True
