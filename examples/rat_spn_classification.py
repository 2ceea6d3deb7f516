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

Usage::

    python3 examples/rat_spn_classification.py            # full run, about 40 s on 2 CPU cores
    python3 examples/rat_spn_classification.py --quick    # smoke run: 1 epoch on a few hundred samples
    python3 examples/rat_spn_classification.py --depth 3 --num-decomps 20 --epochs 20
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import layers, models  # noqa: E402

NUM_CLASSES = 10


def load_data(seed, test_size=360):
    """Digits as flattened, standardized ``(N, 64)`` float32 vectors, split into train and test.

    Each pixel is standardized with the training mean and standard deviation
    (floored at 1 so that the nearly constant border pixels stay tame).
    """
    digits = load_digits()
    x = digits.data.astype("float32")
    y = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    mean = x_train.mean(axis=0)
    std = np.maximum(x_train.std(axis=0), 1.0)
    return ((x_train - mean) / std, y_train), ((x_test - mean) / std, y_test)


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
    (x_train, y_train), (x_test, y_test) = load_data(args.seed)
    if args.quick:
        x_train, y_train = x_train[:320], y_train[:320]
        x_test, y_test = x_test[:160], y_test[:160]
    print(f"digits: {len(x_train)} training and {len(x_test)} test samples of {x_train.shape[1]} pixels")

    model = models.build_rat_spn(
        num_vars=x_train.shape[1],
        depth=args.depth,
        num_decomps=args.num_decomps,
        num_input_distributions=args.num_input_distributions,
        num_sums=args.num_sums,
        leaf=layers.NormalLeaf(num_components=args.num_components),
        num_classes=NUM_CLASSES,
        input_dtype="float32",
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
        verbose=2,
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
