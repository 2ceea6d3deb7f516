"""The pieces the SPN models use under a distribution strategy, on one device (the strategies: test_distribution.py)."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import losses
from libspn_keras.math.em_roles import (
    LEAF_STATISTICS,
    SUM_ACCUMULATORS,
    centre_leaf_counts,
    delivers_em_counts,
    em_role,
    leaf_counts,
    leaf_moments,
    pack_leaf_statistics,
    tag_leaf_statistics,
    tag_sum_accumulators,
    uncentre_leaf_counts,
)
from libspn_keras.models.distributed_training import (
    across_workers,
    compiled_reduction,
    reducible_logs,
    scale_gradient,
    weigh_by_replica_share,
)


def test_scale_gradient_keeps_the_value_and_scales_the_gradient():
    x = tf.Variable([1.5, -2.0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.square(scale_gradient(x, tf.constant(0.25))))
    np.testing.assert_allclose(y.numpy(), 1.5**2 + 2.0**2)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [0.25 * 3.0, 0.25 * -4.0])


def test_compiled_reduction_of_every_form_of_compiled_loss():
    assert compiled_reduction(losses.NegativeLogLikelihood()) == "sum_over_batch_size"
    assert compiled_reduction(losses.NegativeLogLikelihood(reduction="sum")) == "sum"
    assert compiled_reduction("mse") == "sum_over_batch_size"
    assert compiled_reduction([losses.NegativeLogLikelihood(), "mse"]) == "sum_over_batch_size"
    assert compiled_reduction({"a": losses.NegativeLogLikelihood(reduction="sum"), "b": "mse"}) is None


def test_one_device_leaves_losses_and_logs_as_they_are():
    assert not across_workers()
    loss = tf.constant(3.0)
    assert weigh_by_replica_share(loss, tf.zeros((5, 1)), None, losses.NegativeLogLikelihood()) is loss
    logs = {"loss": tf.constant(1.0)}
    assert reducible_logs(logs) is logs


def test_em_roles_mark_variables_once_and_say_who_delivers_counts():
    plain, counting, gradient, statistics = (keras.Variable(np.ones((2, 2), "float32")) for _ in range(4))
    tag_sum_accumulators(counting, "dense_sum", counting=True)
    tag_sum_accumulators(gradient, "grad_sum", counting=False)
    tag_leaf_statistics(statistics, "leaf", update_location=True, update_variance=False)
    assert em_role(plain) is None and not delivers_em_counts(plain)
    assert em_role(counting).kind == SUM_ACCUMULATORS and delivers_em_counts(counting)
    assert em_role(gradient).layer == "grad_sum" and not delivers_em_counts(gradient)
    role = em_role(statistics)
    assert role.kind == LEAF_STATISTICS and role.update_location and not role.update_variance
    assert delivers_em_counts(statistics)


def test_leaf_statistics_layout_and_counts_against_numpy():
    rng = np.random.default_rng(0)
    mean, variance = rng.normal(size=(3, 2)), rng.uniform(0.5, 2.0, size=(3, 2))
    packed = pack_leaf_statistics(tf.constant(mean), tf.constant(variance)).numpy()
    np.testing.assert_allclose(packed, np.stack([np.ones_like(mean), mean, variance], axis=-1))
    back_mean, back_variance = (m.numpy() for m in leaf_moments(tf.constant(packed)))
    np.testing.assert_allclose(back_mean, mean)
    np.testing.assert_allclose(back_variance, variance, rtol=1e-12)

    x = rng.normal(loc=1000.0, size=(7, 1, 2))  # [batch, 1, d] against components [3, d]
    weights = rng.uniform(size=(7, 3, 2))
    counts = leaf_counts(tf.constant(weights, tf.float32), tf.constant(x, tf.float32), tf.constant(mean)).numpy()
    d = x.astype(np.float32).astype(np.float64) - mean
    w = weights.astype(np.float32).astype(np.float64)
    expected = np.stack([w.sum(0), (w * d).sum(0), (w * d**2).sum(0)], axis=-1)
    assert counts.dtype == np.float64
    np.testing.assert_allclose(counts, expected, rtol=1e-12)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_centred_leaf_counts_round_trip_and_keep_the_spread(sign):
    rng = np.random.default_rng(1)
    n = rng.uniform(0.5, 2.0, size=4)
    n[0] = 0.0  # a component no sample reached
    d = rng.normal(loc=1e4, size=(4, 50))
    s1, s2 = (n[:, None] * d).mean(1), (n[:, None] * d**2).mean(1)
    s1[0] = s2[0] = 0.0
    counts = sign * np.stack([n, s1, s2], axis=-1)
    centred = centre_leaf_counts(tf.constant(counts)).numpy()
    spread = s2 - np.where(n > 0, s1**2 / np.where(n > 0, n, 1.0), 0.0)
    np.testing.assert_allclose(centred[..., 2], sign * spread, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(uncentre_leaf_counts(tf.constant(centred)).numpy(), counts, rtol=1e-12)
