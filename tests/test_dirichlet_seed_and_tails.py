"""Dirichlet: a seed fixes the values at every call, and log-space draws keep their exact tails for tiny alpha."""

import numpy as np
import pytest

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
