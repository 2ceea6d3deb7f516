"""The M-step helpers of libspn_keras.math.em on hand-computed statistics."""

import numpy as np
import pytest
import tensorflow as tf

from libspn_keras.math.em import online_em_leaf_update_towards_estimate, sum_estimate

OLD_MEAN = np.array([0.5, -2.0])
OLD_VARIANCE = np.array([1.5, 0.25])
X = np.array([0.1, 0.9, 2.0])
# Responsibilities of the samples for component 0; no sample reaches component 1.
R = np.array([1.0, 0.5, 0.25])


def _statistics():
    """``(1, mean, variance)`` per component, the layout of the ``towards_estimate`` rule."""
    return tf.constant(np.stack([np.ones(2), OLD_MEAN, OLD_VARIANCE], axis=-1))


def _counts():
    """``(sum r, sum r d, sum r d^2)`` about the old means, zero for the unreached component."""
    d = X - OLD_MEAN[0]
    reached = [R.sum(), (R * d).sum(), (R * d**2).sum()]
    return tf.constant(np.array([reached, [0.0, 0.0, 0.0]]))


@pytest.mark.parametrize("pseudocount", [0.0, 0.2])
@pytest.mark.parametrize("update_mean", [True, False])
def test_towards_estimate_steps_reached_components_and_keeps_unreached_ones(update_mean, pseudocount):
    eta, prior_variance = 0.3, 2.0
    out = online_em_leaf_update_towards_estimate(
        _statistics(), _counts(), eta, update_mean, True, pseudocount, prior_variance
    ).numpy()
    mean, variance = out[:, 1], out[:, 2]
    np.testing.assert_allclose(out[:, 0], 1.0)

    # Component 0: the EM mean (or the fixed one) and the smoothed variance about it, reached by a step eta.
    centre = (R * X).sum() / R.sum() if update_mean else OLD_MEAN[0]
    em_variance = ((R * (X - centre) ** 2).sum() + pseudocount * prior_variance) / (R.sum() + pseudocount)
    expected_mean = OLD_MEAN[0] + eta * (centre - OLD_MEAN[0])
    assert mean[0] == pytest.approx(expected_mean, rel=1e-12)
    assert variance[0] == pytest.approx((1 - eta) * OLD_VARIANCE[0] + eta * em_variance, rel=1e-10)

    # Component 1, which no sample reached, keeps its mean and variance (it has nothing to move towards).
    assert mean[1] == pytest.approx(OLD_MEAN[1], rel=1e-12)
    assert variance[1] == pytest.approx(OLD_VARIANCE[1], rel=1e-10)


def test_sum_estimate_with_a_children_axis_known_only_at_run_time():
    counts = np.array([[2.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype="float32")  # 3 children, 2 sums (one unreached)
    pseudocount = 0.5
    expected = np.stack([(counts[:, 0] + pseudocount) / (counts[:, 0].sum() + 3 * pseudocount), np.zeros(3)], axis=1)
    dynamic = tf.function(
        lambda c: sum_estimate(c, pseudocount), input_signature=[tf.TensorSpec([None, None], tf.float32)]
    )
    np.testing.assert_allclose(dynamic(counts).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(sum_estimate(tf.constant(counts), pseudocount).numpy(), expected, rtol=1e-6)
