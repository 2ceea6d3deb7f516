"""Learning a structure: a hidden Chow-Liu tree (HCLT), or a mixture of them, on a binary DEBD dataset.

``build_hclt`` learns the Chow-Liu tree of the training data (the maximum
spanning tree of the pairwise mutual information, rooted at its centre), gives
every variable a latent with ``K`` states attached like the variable, and
compiles the resulting region graph into one Keras model. Its parameters are
then learned by EM (``OnlineExpectationMaximization``):

1. mini-batch EM, the step size annealed from 1.0 to 0.05 over the epochs;
2. full-data EM steps (the estimates of nearly equal batches of at most 4096
   rows averaged before the update, step size 1.0) until the validation likelihood
   stops improving (at most ``--full-epochs``). On wide data the batches are
   smaller, so that one batch's activations stay within about 5 GB.

Both phases use one Dirichlet prior: ``--pseudocount`` (default 0.003)
pseudo-samples per child of every sum over the whole training set. Each batch
gets its share (``pseudocount * batch / samples``), so both phases estimate
towards the same smoothed maximum, and the prior keeps its strength on small
and large datasets alike.

After every epoch the model is scored on the validation split; the best
weights are kept, and the model is chosen on the validation split too, in
two stages:

1. the number of latent states ``K`` among ``--latents``, with single trees
   (the smallest ``K`` within 0.005 nats of the best; with several
   ``--pseudocount`` values, every pair is trained and that ``K``'s best
   prior is kept);
2. the number of trees among ``--trees`` (default 1 and 2) at that ``K`` and
   prior: ``build_hclt(num_trees=M)`` mixes the Chow-Liu tree and ``M - 1``
   trees of bootstrap resamples of the training data under one root sum; the
   fewest trees within 0.005 nats of the best are kept.

The test split is read once, at the end. The learned structure is drawn to
``OUTPUT_DIR/NAME_tree.png`` (with matplotlib).

Usage::

    python3 examples/learn_structure.py --data ../shared/data/debd --name accidents
    python3 examples/learn_structure.py --quick    # tiny synthetic dataset, about 20 s on 2 CPU cores

The last line printed is ``test_ll=<mean test log-likelihood>``.
"""

import argparse
import gc
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from spn_tutorials.data import independent_bernoulli_log_likelihood, load_debd_splits, write_synthetic_debd  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import models, optimizers  # noqa: E402
from libspn_keras.structure import draw_region_graph  # noqa: E402

DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")
TIE_TOLERANCE = 0.005  # nats per sample
# A batch's forward and backward pass keeps about 80 bytes per row, variable, latent state and tree: this many
# of them (about 5 GB) per full-data batch lets 1,500 variables with K=64 and two trees run on 24 GB.
FULL_BATCH_VALUES = 2**26


def full_data_batches(num_rows, values_per_row, most_rows):
    """``(rows per batch, number of batches)`` for full-data EM: the fewest batches of at most ``most_rows`` rows
    and ``FULL_BATCH_VALUES`` activations, as equal as one batch size allows (the last holds fewer rows by less
    than the number of batches), so that averaging their estimates weighs the rows nearly alike. The average of
    the batches' normalized sum estimates is close to, not equal to, one full-data EM step."""
    most_rows = max(1, min(most_rows, FULL_BATCH_VALUES // values_per_row))
    num_batches = -(-num_rows // most_rows)
    return -(-num_rows // num_batches), num_batches


def mean_log_likelihood(model, data, batch_size):
    """Mean ``log p(x)`` of ``data`` (the models' forward pass is the exact log-likelihood)."""
    return -float(model.evaluate(data, batch_size=batch_size, verbose=0))


def simplest_within_tolerance(candidates, size):
    """The candidate ``(model, valid LL, ...)`` with the smallest ``candidate[size]`` among those within
    ``TIE_TOLERANCE`` of the best validation LL; among equal sizes, the best validation LL."""
    top = max(candidate[1] for candidate in candidates)
    close = (candidate for candidate in candidates if candidate[1] >= top - TIE_TOLERANCE)
    return min(close, key=lambda candidate: (candidate[size], -candidate[1]))


def train_hclt(train, valid, num_latents, prior, args, num_trees=1):
    """Builds and trains one HCLT (mixture); returns ``(model, best validation LL, seconds per mini-batch epoch)``."""
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    model = models.build_hclt(train, num_latents, num_trees=num_trees, seed=args.seed)
    name = f"K={num_latents}, prior {prior:g}" + (f", {num_trees} trees" if num_trees > 1 else "")
    print(f"{name}: structure learned and compiled in {time.perf_counter() - start:.2f} s")
    steps = int(np.ceil(len(train) / args.batch_size))
    full_batch_size, full_steps = full_data_batches(
        len(train), train.shape[1] * num_latents * num_trees, args.full_batch_size
    )
    schedule = keras.optimizers.schedules.PolynomialDecay(1.0, steps * args.epochs, end_learning_rate=0.05)
    # The optimizer's pseudocount is in units of one batch (counts are batch means): a batch of B samples gets
    # pseudocount * B / len(train) pseudo-samples, the same value pseudocount / len(train) in those units.
    pseudocount = prior / len(train)
    best, best_weights, epoch_times = -np.inf, None, []
    phases = [
        (args.epochs, optimizers.OnlineExpectationMaximization(learning_rate=schedule, pseudocount=pseudocount)),
        (
            args.full_epochs,
            optimizers.OnlineExpectationMaximization(
                learning_rate=1.0, accumulate_batches=full_steps, pseudocount=pseudocount
            ),
        ),
    ]
    for phase, (epochs, optimizer) in enumerate(phases):
        model.compile(optimizer=optimizer, jit_compile=args.jit)
        batch_size = args.batch_size if phase == 0 else full_batch_size
        for epoch in range(epochs):
            start = time.perf_counter()
            model.fit(train, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
            if phase == 0:
                epoch_times.append(time.perf_counter() - start)
            score = mean_log_likelihood(model, valid, args.batch_size)
            print(f"{name}, {'mini-batch' if phase == 0 else 'full-data'} epoch {epoch + 1}: valid LL {score:.4f}")
            if score > best:
                best, best_weights = score, model.get_weights()
            elif phase == 1:
                break  # full-data EM only climbs the training likelihood: no validation gain, stop
    model.set_weights(best_weights)
    # The first epoch includes tracing and compilation.
    per_epoch = float(np.median(epoch_times[1:])) if len(epoch_times) > 1 else float("nan")
    return model, best, per_epoch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="folder holding NAME/NAME.{train,valid,test}.data")
    parser.add_argument("--name", default="nltcs")
    parser.add_argument("--quick", action="store_true", help="tiny synthetic dataset, few epochs (a smoke test)")
    parser.add_argument("--latents", type=int, nargs="+", default=None, help="candidate K (default 32 64)")
    parser.add_argument(
        "--trees", type=int, nargs="+", default=None, help="candidate numbers of mixed trees (default 1 2)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="mini-batch EM epochs (default 20)")
    parser.add_argument("--full-epochs", type=int, default=None, help="most full-data EM epochs (default 10)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument(
        "--full-batch-size", type=int, default=4096, help="most rows per batch of the full-data EM epochs"
    )
    parser.add_argument(
        "--pseudocount",
        type=float,
        nargs="+",
        default=None,
        help="EM prior: pseudo-samples per child over the training set (default 0.003; several: chosen on valid)",
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--jit", choices=["auto", "on", "off"], default="auto", help="jit_compile of compile()")
    args = parser.parse_args(argv)
    args.latents = args.latents or ([4] if args.quick else [32, 64])
    args.pseudocount = args.pseudocount or [0.003]
    args.trees = sorted(set(args.trees or [1, 2]) | {1})
    args.epochs = args.epochs if args.epochs is not None else (2 if args.quick else 20)
    args.full_epochs = args.full_epochs if args.full_epochs is not None else (1 if args.quick else 10)
    args.jit = {"auto": "auto", "on": True, "off": False}[args.jit]

    total_start = time.perf_counter()
    if args.quick or args.data is None:
        with tempfile.TemporaryDirectory(prefix="learn_structure_") as folder:
            true_ll = write_synthetic_debd(folder, seed=args.seed)
            train, valid, test = load_debd_splits(folder, "synthetic")
        args.name = "synthetic"
        print(f"synthetic data; true test LL {true_ll['test']:.4f}")
    else:
        train, valid, test = load_debd_splits(args.data, args.name)
    print(f"{args.name}: {train.shape[1]} variables, {len(train)} / {len(valid)} / {len(test)} samples")
    print(f"independent Bernoullis: test LL {independent_bernoulli_log_likelihood(train, test):.4f}")

    candidates = [
        train_hclt(train, valid, k, prior, args) + (k, prior) for k in args.latents for prior in args.pseudocount
    ]
    # The smallest K within TIE_TOLERANCE of the best validation likelihood (more states that do not help are
    # noise), with its best prior.
    model, best_valid, per_epoch, num_latents, prior = simplest_within_tolerance(candidates, size=3)
    for _, valid_ll, seconds, k, pseudocount in candidates:
        print(f"K={k}, prior {pseudocount:g}: best valid LL {valid_ll:.4f}, {seconds:.2f} s per mini-batch epoch")
    # Only the chosen model is needed from here: free the others (on 1,500 variables they hold gigabytes).
    del candidates
    gc.collect()
    # Then the number of trees at that K and prior: the fewest within TIE_TOLERANCE of the best.
    mixtures = [(model, best_valid, per_epoch, 1)] + [
        train_hclt(train, valid, num_latents, prior, args, num_trees=m) + (m,) for m in args.trees[1:]
    ]
    for _, valid_ll, seconds, m in mixtures[1:]:
        print(f"{m} trees: best valid LL {valid_ll:.4f}, {seconds:.2f} s per mini-batch epoch")
    model, best_valid, per_epoch, num_trees = simplest_within_tolerance(mixtures, size=3)
    print(
        f"chosen on validation: K={num_latents}, prior {prior:g}, {num_trees} tree{'s' * (num_trees > 1)} "
        f"({model.count_params()} parameters)"
    )

    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, f"{args.name}_tree.png")
    try:
        draw_region_graph(model.layers[-1].roots, path)
        print(f"saved {path}")
    except ImportError as error:  # matplotlib is optional: the drawing is skipped, the result still printed
        print(f"structure not drawn: {error}")
    print(f"total time {time.perf_counter() - total_start:.1f} s")
    test_ll = mean_log_likelihood(model, test, args.batch_size)
    print(f"test_ll={test_ll:.4f}")


if __name__ == "__main__":
    main()
