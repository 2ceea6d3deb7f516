"""Density estimation on a binary DEBD dataset with a RAT-SPN trained by online EM.

The DEBD benchmark (Lowd & Davis 2010; Van Haaren & Davis 2012) holds binary
datasets split into ``NAME.train.data``, ``NAME.valid.data`` and
``NAME.test.data``, one comma-separated 0/1 sample per line; the score is the
mean test log-likelihood in nats per sample. ``build_rat_spn`` makes a
random tensorized SPN (random balanced binary splits of the variables,
repeated ``--num-decomps`` times) over indicator leaves; every sum uses the
EM sum op on linear-space accumulators (initialized from a Dirichlet) and
``OnlineExpectationMaximization`` moves the weights a step ``--learning-rate``
towards the EM estimate of every mini-batch.

Data: ``--data`` points at a folder holding ``NAME/NAME.SPLIT.data`` (default
``../shared/data/debd`` next to the repository when it exists, else the
synthetic data below). ``--quick`` (and the fallback) instead writes a small
synthetic dataset in the same layout to a temporary folder: samples of a
mixture of product-of-Bernoulli distributions, whose exact log-likelihood is
printed as the best one can hope for. For reference, an independent-Bernoulli
model (the product of the training marginals) is printed too.

Usage::

    python3 examples/debd_density_estimation.py                  # nltcs, 5 epochs, about 30 s on 2 CPU cores
    python3 examples/debd_density_estimation.py --quick          # smoke run on a tiny synthetic dataset
    python3 examples/debd_density_estimation.py --name accidents --depth 3 --num-input-distributions 20 \\
        --num-sums 20 --epochs 3                                  # about 4 s per epoch, test LL about -37
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from spn_tutorials.data import (  # noqa: E402
    DEBD_SPLITS,
    independent_bernoulli_log_likelihood,
    load_debd_splits,
    write_synthetic_debd,
)
from spn_tutorials.networks import build_debd_rat_spn  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import metrics, optimizers  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "debd"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch on a tiny synthetic dataset (a smoke test)")
    parser.add_argument("--data", default=None, help=f"DEBD folder (default {DEFAULT_DATA} when it exists)")
    parser.add_argument("--name", default="nltcs", help="dataset name, e.g. nltcs, plants, accidents")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 5, 1 with --quick)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="step size of online EM (default 0.05; 0.3 on synthetic data)"
    )
    parser.add_argument("--depth", type=int, default=2, help="binary product levels of every region tree")
    parser.add_argument("--num-decomps", type=int, default=10, help="repetitions (random region trees)")
    parser.add_argument(
        "--num-input-distributions", type=int, default=10, help="sums over the leaf components per variable"
    )
    parser.add_argument("--num-sums", type=int, default=10, help="sums per inner region")
    parser.add_argument("--alpha", type=float, default=0.3, help="initial sum weights drawn from Dirichlet(alpha)")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 5)

    keras.utils.set_random_seed(args.seed)
    root, name, true_ll = args.data, args.name, None
    if root is None and not args.quick and os.path.isdir(DEFAULT_DATA):
        root = DEFAULT_DATA
    temporary = None
    if args.quick or root is None:
        if not args.quick:
            print(f"no DEBD folder given and {DEFAULT_DATA} does not exist: using synthetic data")
        temporary = tempfile.TemporaryDirectory()
        root, name = temporary.name, "synthetic"
        true_ll = write_synthetic_debd(root, args.seed)
    # Large steps suit the small synthetic set; on the DEBD sets many small steps do better.
    learning_rate = args.learning_rate if args.learning_rate is not None else (0.3 if true_ll else 0.05)
    train, valid, test = load_debd_splits(root, name)
    print(f"{name}: {train.shape[1]} variables, {len(train)} train, {len(valid)} valid, {len(test)} test samples")

    model = build_debd_rat_spn(
        train.shape[1], args.depth, args.num_decomps, args.num_input_distributions, args.num_sums, args.alpha
    )
    log_likelihood = metrics.LogLikelihood()
    model.compile(
        optimizer=optimizers.OnlineExpectationMaximization(learning_rate=learning_rate), metrics=[log_likelihood]
    )
    print(
        f"RAT-SPN: depth {args.depth}, {args.num_decomps} repetitions, {model.count_params():,} parameters, "
        f"online EM with learning rate {learning_rate}"
    )

    start = time.perf_counter()
    model.fit(
        train,
        batch_size=args.batch_size,
        epochs=epochs,
        shuffle=True,
        validation_data=(valid,),
        verbose=2 if args.quick else 1,  # one line per epoch, or Keras's progress bar
    )
    print(f"training time: {time.perf_counter() - start:.1f} s for {epochs} epoch(s)")

    for split, data in zip(DEBD_SPLITS, (train, valid, test)):
        ll = model.evaluate(data, batch_size=1000, verbose=0, return_dict=True)[log_likelihood.name]
        line = f"{split} LL: {ll:.4f}  (independent Bernoullis {independent_bernoulli_log_likelihood(train, data):.4f}"
        if true_ll is not None:
            line += f", true distribution {true_ll[split]:.4f}"
        print(line + ")")
    if temporary is not None:
        temporary.cleanup()


if __name__ == "__main__":
    main()
