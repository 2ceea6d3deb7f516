"""Sum-op details: weights of huge linear accumulators normalize without overflow; ``sample_prob=0`` is accepted."""

import numpy as np
import pytest
import tensorflow as tf

from libspn_keras import layers
from libspn_keras.sum_ops import SumOpHardEMBackprop, SumOpUnweightedHardEMBackprop
from libspn_keras.sum_ops.base import normalized_log_weights, normalized_weights


def test_linear_accumulators_up_to_the_float32_maximum_normalize_without_overflow():
    big = np.float32(3e38)  # two of them overflow a float32 total
    accumulators = tf.constant([[big, 1.0], [big, 3.0]], tf.float32)  # [children, sums]
    np.testing.assert_allclose(normalized_weights(accumulators, False).numpy(), [[0.5, 0.25], [0.5, 0.75]], rtol=1e-6)
    np.testing.assert_allclose(
        normalized_log_weights(accumulators, False).numpy(), np.log([[0.5, 0.25], [0.5, 0.75]]), rtol=1e-6
    )


def test_a_root_with_huge_linear_accumulators_gives_the_mixture():
    root = layers.RootSum(return_weighted_child_logits=False, logspace_accumulators=False, sum_op="em")
    x = np.log(np.array([[0.2, 0.6]], np.float32))
    root(x)
    root.accumulators.assign(np.array([[3e38], [1e38]], np.float32))  # weights 3/4 and 1/4
    np.testing.assert_allclose(root(x).numpy(), [[np.log(0.75 * 0.2 + 0.25 * 0.6)]], rtol=1e-5)


@pytest.mark.parametrize("op", [SumOpHardEMBackprop, SumOpUnweightedHardEMBackprop])
def test_sample_prob_zero_is_accepted_as_always_the_best_child(op):
    assert op(sample_prob=0).sample_prob == 0.0
    assert op(sample_prob=0.0).get_config() == {"sample_prob": 0.0}
    assert op(sample_prob=1).sample_prob == 1.0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="sample_prob"):
            op(sample_prob=bad)
