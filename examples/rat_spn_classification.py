"""Classify scikit-learn's 8x8 handwritten digits with a RAT-SPN trained by gradient descent.

A random tensorized SPN (RAT-SPN, Peharz et al., 2019) splits the 64 pixels
at random into balanced binary region trees, ``num_decomps`` times over (the
*repetitions*), and puts Normal leaves on the pixels, sums on every region and
products (all combinations of the children's sums) on every split.
``build_rat_spn(..., num_classes=10)`` ends it in ten class roots, so the
model outputs ``log p(x, y)`` for each class, which are the logits of the
posterior ``p(y | x)``. Training minimizes the cross-entropy of these logits
with Adam (discriminative training); the sums keep log-space accumulators and
the default gradient sum op.

The data loading and the network live in ``examples/spn_tutorials/``, shared
with the tutorial notebook ``docs/tutorials/rat_spn_classification.ipynb``.

Usage::

    python3 examples/rat_spn_classification.py            # full run, about 40 s on 2 CPU cores
    python3 examples/rat_spn_classification.py --quick    # smoke run: 1 epoch on a few hundred samples
    python3 examples/rat_spn_classification.py --depth 3 --num-decomps 20 --epochs 20
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from spn_tutorials.data import load_standardized_digits  # noqa: E402
from spn_tutorials.networks import build_digits_rat_spn  # noqa: E402
from tensorflow import keras  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch on a few hundred samples (a smoke test)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 10, 1 with --quick)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-2)
    parser.add_argument("--depth", type=int, default=2, help="binary splits from the root of every region tree")
    parser.add_argument("--num-decomps", type=int, default=10, help="repetitions (random region trees)")
    parser.add_argument("--num-input-distributions", type=int, default=8, help="sums over the leaves per pixel")
    parser.add_argument("--num-sums", type=int, default=10, help="sums per inner region")
    parser.add_argument("--num-components", type=int, default=8, help="Normal components per pixel")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 10)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_standardized_digits(args.seed, flat=True)
    if args.quick:
        x_train, y_train = x_train[:320], y_train[:320]
        x_test, y_test = x_test[:160], y_test[:160]
    print(f"digits: {len(x_train)} training and {len(x_test)} test samples of {x_train.shape[1]} pixels")

    model = build_digits_rat_spn(
        args.depth, args.num_decomps, args.num_input_distributions, args.num_sums, args.num_components
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.summary()

    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=epochs,
        shuffle=True,
        validation_data=(x_test, y_test),
        verbose=2 if args.quick else 1,  # one line per epoch, or Keras's progress bar
    )
    train_seconds = time.perf_counter() - start

    _, train_accuracy = model.evaluate(x_train, y_train, batch_size=256, verbose=0)
    _, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    # The class roots are log p(x, y): their log-sum-exp is the marginal log p(x) of the (standardized) input.
    print(f"mean test log p(x): {model.log_likelihood(x_test).mean():.2f} nats (standardized pixels)")
    print(f"training time: {train_seconds:.1f} s for {epochs} epoch(s)")
    print(f"train accuracy: {train_accuracy:.4f}")
    print(f"test accuracy: {test_accuracy:.4f}")
    return test_accuracy


if __name__ == "__main__":
    main()
