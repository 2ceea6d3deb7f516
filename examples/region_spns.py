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
4. draws the region graph (``visualize_region_graph``), the layer stack
   (``visualize_layer_stack``) and the training curve to PNG files.

The region graph, the distribution and the checks live in
``examples/spn_tutorials/regions.py``, shared with the tutorial notebook
``docs/tutorials/region_spns.ipynb``, which also shows the network node by
node (``visualize_dense_spn``).

Usage::

    python3 examples/region_spns.py            # 30 EM steps on 5,000 samples, a few seconds of training
    python3 examples/region_spns.py --quick    # smoke run: 1 EM step on a few hundred samples
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from spn_tutorials.plots import training_curve  # noqa: E402
from spn_tutorials.regions import (  # noqa: E402
    NUM_VARS,
    build_region_graph,
    check_normalization,
    sample_data,
    true_distribution,
)
from tensorflow import keras  # noqa: E402

from libspn_keras import layers, optimizers, region_graph_to_dense_spn  # noqa: E402
from libspn_keras.region_graph import region_graph_layout  # noqa: E402
from libspn_keras.visualize import visualize_layer_stack, visualize_region_graph  # noqa: E402

DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 EM step on a few hundred samples (a smoke test)")
    parser.add_argument("--epochs", type=int, default=None, help="batch EM steps (default 30, 1 with --quick)")
    parser.add_argument("--num-samples", type=int, default=None, help="training samples (default 5000)")
    parser.add_argument(
        "--num-sums", type=int, default=4, help="sums per region below the root (the root region has the root sum)"
    )
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
        roots, leaf=layers.IndicatorLeaf(num_components=2), num_sums_iterable=[args.num_sums], sum_op="em"
    )
    model.summary()
    check_normalization(model, "random weights")

    rng = np.random.default_rng(args.seed)
    (train, true_train), (test, true_test) = sample_data(true_distribution(rng), num_samples, rng)
    before_train, before_test = model.log_likelihood(train).mean(), model.log_likelihood(test).mean()

    # Learning rate 1 and one batch of all the data: every epoch is one exact batch EM step.
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=1.0))
    start = time.perf_counter()
    history = model.fit(train, batch_size=len(train), epochs=epochs, verbose=2)
    print(f"training time: {time.perf_counter() - start:.1f} s for {epochs} EM step(s)")
    after_train, after_test = model.log_likelihood(train).mean(), model.log_likelihood(test).mean()
    check_normalization(model, "after EM")

    print(f"train log-likelihood: before {before_train:.4f}, after {after_train:.4f}, true {true_train.mean():.4f}")
    print(f"test log-likelihood: before {before_test:.4f}, after {after_test:.4f}, true {true_test.mean():.4f}")

    os.makedirs(args.output_dir, exist_ok=True)
    graph_path = visualize_region_graph(roots, os.path.join(args.output_dir, "region_graph.png"))
    print(f"saved {graph_path}")
    layers_path = visualize_layer_stack(model, os.path.join(args.output_dir, "region_spn_layers.png"))
    print(f"saved {layers_path}")
    curve_path = os.path.join(args.output_dir, "region_spn_training.png")
    print(f"saved {training_curve(history, ['loss'], negate=True, path=curve_path)}")


if __name__ == "__main__":
    main()
