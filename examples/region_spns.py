"""Understanding region SPNs: a hand-made region graph, compiled, checked by enumeration and trained with EM.

A *region* is a set of variables. A region graph says how to split regions
into smaller, disjoint ones, down to single variables; an SPN is built from
it by putting a few sums on every region and, for every split, the products
of all combinations of its children's sums. Sums over the same variables
mix alternatives (smooth), products join disjoint variables (decomposable),
so the network is a normalized distribution whose likelihood, marginals and
completions take one pass each.

This script builds a region graph over 6 binary variables with two
*decompositions* (two different ways of splitting all the variables)::

    decomposition 0: {0..5} -> {0,1,2} x {3,4,5},  each a product of its 3 variables
    decomposition 1: {0..5} -> {0,3} x {1,4} x {2,5}, each a product of its 2 variables

and compiles it with ``region_graph_to_dense_spn`` into a stack of dense
layers, where every decomposition is one slice of the ``decomps`` axis of
``[batch, scopes, decomps, nodes]`` tensors. The two decompositions have
different arities (2 and 3 children at the top, 3 and 2 variables below), so
the compiler pads the narrower ones with marginalized scopes (log-probability
0). The script then

1. prints the layout the compiler chose and ``model.summary()``;
2. checks by enumeration of all 2^6 assignments that the probabilities sum
   to 1, and that a missing variable (-1) gives the exact marginal;
3. trains the SPN with batch EM (EM sum ops, ``OnlineExpectationMaximization``
   with learning rate 1 and one batch holding all the data, so that every
   epoch is one exact EM step and the log-likelihood never decreases) on
   samples of a known distribution, and prints the log-likelihood before and
   after, next to that of the true distribution;
4. draws the region graph (``visualize_region_graph``) and the layer stack
   (``visualize_dense_spn``) to PNG files.

Usage::

    python3 examples/region_spns.py            # 30 EM steps on 5,000 samples, a few seconds of training
    python3 examples/region_spns.py --quick    # smoke run: 1 EM step on a few hundred samples
"""

import argparse
import itertools
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import RegionNode, RegionVariable, layers, optimizers, region_graph_to_dense_spn  # noqa: E402
from libspn_keras.region_graph import region_graph_layout  # noqa: E402
from libspn_keras.visualize import visualize_dense_spn, visualize_region_graph  # noqa: E402

DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 EM step on a few hundred samples (a smoke test)")
    parser.add_argument("--epochs", type=int, default=None, help="batch EM steps (default 30, 1 with --quick)")
    parser.add_argument("--num-samples", type=int, default=None, help="training samples (default 5000)")
    parser.add_argument("--num-sums", type=int, nargs=2, default=[4, 4], help="sums per region at levels 1 and 2")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 30)
    num_samples = args.num_samples if args.num_samples is not None else (300 if args.quick else 5000)

    keras.utils.set_random_seed(args.seed)
    roots = build_region_graph()
    factors, permutations = region_graph_layout(roots)
    print(f"region graph: {len(roots)} decompositions over {NUM_VARS} variables")
    print(f"product factors per level (bottom first): {factors}")
    print("leaf scopes per decomposition after permutation and padding (-1 = padding):")
    for index, row in enumerate(permutations):
        print(f"  decomposition {index}: {row.tolist()}")

    model = region_graph_to_dense_spn(
        roots, leaf=layers.IndicatorLeaf(num_components=2), num_sums_iterable=args.num_sums, sum_op="em"
    )
    model.summary()
    check_normalization(model, "random weights")

    rng = np.random.default_rng(args.seed)
    table = true_distribution(rng)
    states = all_assignments()
    train = states[rng.choice(len(states), size=num_samples, p=table)]
    test = states[rng.choice(len(states), size=max(num_samples // 2, 100), p=table)]
    # Row index of an assignment in the table: its bits read as a binary number, x0 first.
    place_values = 2 ** np.arange(NUM_VARS)[::-1]
    true_train, true_test = np.log(table[train @ place_values]), np.log(table[test @ place_values])
    before_train, before_test = model.log_likelihood(train).mean(), model.log_likelihood(test).mean()

    # Learning rate 1 and one batch of all the data: every epoch is one exact batch EM step.
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=1.0))
    start = time.perf_counter()
    model.fit(train, batch_size=len(train), epochs=epochs, verbose=2)
    print(f"training time: {time.perf_counter() - start:.1f} s for {epochs} EM step(s)")
    after_train, after_test = model.log_likelihood(train).mean(), model.log_likelihood(test).mean()
    check_normalization(model, "after EM")

    print(f"train log-likelihood: before {before_train:.4f}, after {after_train:.4f}, true {true_train.mean():.4f}")
    print(f"test log-likelihood: before {before_test:.4f}, after {after_test:.4f}, true {true_test.mean():.4f}")

    os.makedirs(args.output_dir, exist_ok=True)
    graph_path = visualize_region_graph(roots, os.path.join(args.output_dir, "region_graph.png"))
    print(f"saved {graph_path}")
    layers_path = visualize_dense_spn(model, os.path.join(args.output_dir, "region_spn_layers.png"))
    print(f"saved {layers_path}")


if __name__ == "__main__":
    main()
