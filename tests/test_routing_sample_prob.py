"""``sample_prob`` strictly between 0 and 1: a row draws its child with probability ``sample_prob``, else the best.

With child probabilities (softmax of the scores) ``p`` and best child ``b``, a child ``c != b`` is chosen with
probability ``sample_prob * p_c``. The repository's tests cover ``sample_prob`` 0 and 1 only.
"""

import numpy as np
import pytest
import tensorflow as tf

from libspn_keras.math import choose_child, route_signal
from libspn_keras.math.seeding import random_source

ROWS = 20000


@pytest.mark.parametrize("sample_prob", [0.2, 0.7])
def test_choose_child_draws_with_probability_sample_prob(sample_prob):
    p = np.array([0.75, 0.25])
    scores = tf.constant(np.tile(np.log(p), (ROWS, 1)).astype(np.float32))
    with random_source(0):
        chosen = choose_child(scores, sample_prob).numpy()
    expected = sample_prob * p[1]  # the second child only ever comes from a draw
    share = np.mean(chosen == 1)
    tolerance = 4 * np.sqrt(expected * (1 - expected) / ROWS)
    assert abs(share - expected) < tolerance, (share, expected)


def test_weighted_route_with_sample_prob_counts_draws_in_proportion():
    sample_prob = 0.3
    x = tf.zeros([ROWS, 2])  # equal child values: the weights decide
    log_weights = tf.constant(np.log([[0.9], [0.1]]).astype(np.float32))  # [children, sums]
    dy = tf.ones([ROWS, 1])
    with random_source(1):
        d_x, counts = route_signal(x, log_weights, dy, weighted=True, sample_prob=sample_prob)
    expected = sample_prob * 0.1 * ROWS  # the lighter child is reached by draws only
    tolerance = 4 * np.sqrt(expected)
    assert abs(float(counts.numpy()[1, 0]) - expected) < tolerance
    np.testing.assert_allclose(counts.numpy().sum(), ROWS)
    np.testing.assert_allclose(d_x.numpy().sum(axis=0), counts.numpy()[:, 0])
