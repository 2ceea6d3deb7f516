"""Train a small DGC-SPN classifier on scikit-learn's 8x8 handwritten digits.

The network is built like the DGC-SPN of the README, scaled down to an 8x8
image: a Normal leaf per pixel, a non-overlapping 2x2 product (8 -> 4),
overlapping products with 'full' padding at dilations 1 and 2 (4 -> 5 -> 7),
each followed by per-cell sums, and a product at dilation 4 with 'final'
padding (7 -> 4) whose cells each cover the whole image. Ten class roots on
top give ``log p(x, y)`` per class, read as logits.

The network is built in ``examples/spn_tutorials/networks.py`` (shared with
the tutorial notebook ``docs/tutorials/dgc_spn_digits.ipynb``).

Usage::

    python3 examples/dgc_spn_digits.py             # full run, about 15-30 s on 2 CPU cores
    python3 examples/dgc_spn_digits.py --quick     # smoke run: 1 epoch on a few hundred samples
    python3 examples/dgc_spn_digits.py --epochs 30
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from spn_tutorials.data import load_standardized_digits  # noqa: E402
from spn_tutorials.networks import build_dgc_spn  # noqa: E402
from tensorflow import keras  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch on a few hundred samples (a smoke test)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 15, 1 with --quick)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 15)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_standardized_digits(args.seed)
    if args.quick:
        x_train, y_train = x_train[:320], y_train[:320]
        x_test, y_test = x_test[:160], y_test[:160]
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of shape {x_train.shape[1:]}")

    model = build_dgc_spn()
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
        validation_data=(x_test, y_test),
        verbose=2 if args.quick else 1,  # one line per epoch, or Keras's progress bar
    )
    train_seconds = time.perf_counter() - start

    _, train_accuracy = model.evaluate(x_train, y_train, batch_size=256, verbose=0)
    _, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"training time: {train_seconds:.1f} s for {epochs} epoch(s)")
    print(f"train accuracy: {train_accuracy:.4f}")
    print(f"test accuracy: {test_accuracy:.4f}")
    return test_accuracy


if __name__ == "__main__":
    main()
