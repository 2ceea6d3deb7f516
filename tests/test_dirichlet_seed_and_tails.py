"""Dirichlet: a seed fixes the values at every call, and log-space draws keep their exact tails for tiny alpha."""

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import initializers


def test_seeded_dirichlet_gives_the_same_values_at_every_call():
    first = initializers.Dirichlet(alpha=1.0, seed=7)((4, 3)).numpy()
    again = initializers.Dirichlet(alpha=1.0, seed=7)((4, 3)).numpy()
    same_instance = initializers.Dirichlet(alpha=1.0, seed=7)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(same_instance((4, 3)).numpy(), same_instance((4, 3)).numpy())
    assert not np.array_equal(first, initializers.Dirichlet(alpha=1.0, seed=8)((4, 3)).numpy())


@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_small_alpha_log_weights_follow_the_dirichlet(alpha):
    scipy_stats = pytest.importorskip("scipy.stats")
    n = 20000
    log_weights = initializers.Dirichlet(alpha=alpha, logspace=True, seed=11)((n, 2, 1), dtype="float64").numpy()
    ratio = log_weights[:, 0, 0] - log_weights[:, 1, 0]
    # Exact reference draws: log Gamma(a) = log Gamma(a + 1) + log(U) / a.
    rng = np.random.default_rng(0)
    reference = np.log(rng.gamma(alpha + 1.0, size=(n, 2))) + np.log(rng.random((n, 2))) / alpha
    assert scipy_stats.ks_2samp(ratio, reference[:, 0] - reference[:, 1]).pvalue > 1e-3


@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_unseeded_small_alpha_log_weights_keep_the_tail_below_the_gamma_floor(alpha):
    # Unseeded draws come from the global random state (as in 0.6.0) and raise Gamma draws below 1e-30 to it,
    # which alone cut log weights off at about -69; the floored entries are redrawn from their exact tail.
    scipy_special = pytest.importorskip("scipy.special")
    keras.utils.set_random_seed(3)
    n = 20000
    log_weights = initializers.Dirichlet(alpha=alpha, logspace=True)((n, 2, 1)).numpy()[:, :, 0]
    assert np.all(np.isfinite(log_weights))
    np.testing.assert_allclose(np.logaddexp(log_weights[:, 0], log_weights[:, 1]), 0.0, atol=1e-6)
    # Each weight of a two-child Dirichlet(alpha, alpha) is Beta(alpha, alpha): the share of log weights below t
    # is betainc(alpha, alpha, e**t), e.g. 0.9% (alpha 0.05) and 22% (alpha 0.01) below -80.
    for threshold in (-80.0, -200.0):
        expected = scipy_special.betainc(alpha, alpha, np.exp(threshold))
        observed = np.mean(log_weights[:, 0] < threshold)
        assert abs(observed - expected) < 5 * np.sqrt(expected * (1 - expected) / n) + 1e-4, (threshold, observed)
