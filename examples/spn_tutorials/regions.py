"""The region-graph tutorial: two decompositions of 6 binary variables, a known distribution, enumeration checks."""

import itertools

import numpy as np

from libspn_keras import RegionNode, RegionVariable

NUM_VARS = 6


def build_region_graph():
    """Two decompositions of the variables 0..5, as a list of root regions."""
    x = RegionVariable
    # Each decomposition gets its own RegionVariable objects, so the drawing shows the two trees side by side.
    halves = RegionNode([RegionNode([x(0), x(1), x(2)]), RegionNode([x(3), x(4), x(5)])])
    pairs = RegionNode([RegionNode([x(0), x(3)]), RegionNode([x(1), x(4)]), RegionNode([x(2), x(5)])])
    return [halves, pairs]


def all_assignments():
    """Every joint assignment of the binary variables, ``[2**NUM_VARS, NUM_VARS]`` int32."""
    return np.array(list(itertools.product([0, 1], repeat=NUM_VARS)), dtype="int32")


def true_distribution(rng):
    """A random Ising-style distribution over the 6 binary variables, as a table of ``2**6`` probabilities.

    Couplings connect ``x0-x1-x2``, ``x3-x4-x5`` and ``x_i - x_{i+3}``, so both
    decompositions capture part of the dependencies and neither all of them.
    """
    spins = 2.0 * all_assignments() - 1.0
    edges = [(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)]
    energy = spins @ rng.normal(0.0, 0.3, NUM_VARS)
    for i, j in edges:
        energy += rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * spins[:, i] * spins[:, j]
    probabilities = np.exp(energy - energy.max())
    return probabilities / probabilities.sum()


def logsumexp(values):
    """``log sum exp(values)`` in float64, stable for large magnitudes."""
    values = np.asarray(values, dtype=np.float64)
    peak = values.max()
    return peak + np.log(np.sum(np.exp(values - peak)))


def check_normalization(model, label):
    """Prints ``log sum_x p(x)`` over all assignments (0 for a normalized SPN) and checks a marginal."""
    states = all_assignments()
    log_total = logsumexp(model.log_likelihood(states))
    print(f"{label}: log of the sum of p(x) over all {len(states)} assignments = {log_total:+.2e}")
    # Marginalizing x5 (value -1) must equal summing the joint over both values of x5.
    prefix = states[states[:, 5] == 0].copy()
    prefix[:, 5] = -1
    marginal = model.log_likelihood(prefix)
    summed = np.logaddexp(
        model.log_likelihood(states[states[:, 5] == 0]), model.log_likelihood(states[states[:, 5] == 1])
    )
    print(f"{label}: max |log p(x0..x4) - log sum_x5 p(x0..x5)| = {np.abs(marginal - summed).max():.2e}")
    assert abs(log_total) < 1e-4 and np.abs(marginal - summed).max() < 1e-4, "the SPN is not normalized"


def sample_data(table, num_samples, rng):
    """Train and test samples of the distribution ``table`` with their true log-probabilities.

    Returns:
        ``(train, true_train), (test, true_test)``: ``num_samples`` and
        ``max(num_samples // 2, 100)`` assignments, and ``log p(x)`` of each.
    """
    states = all_assignments()
    train = states[rng.choice(len(states), size=num_samples, p=table)]
    test = states[rng.choice(len(states), size=max(num_samples // 2, 100), p=table)]
    # Row index of an assignment in the table: its bits read as a binary number, x0 first.
    place_values = 2 ** np.arange(NUM_VARS)[::-1]
    return (train, np.log(table[train @ place_values])), (test, np.log(table[test @ place_values]))
