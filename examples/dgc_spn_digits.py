"""Train a small DGC-SPN classifier on scikit-learn's 8x8 handwritten digits.

The network is built like the DGC-SPN of the README, scaled down to an 8x8
image: a Normal leaf per pixel, a non-overlapping 2x2 product (8 -> 4),
overlapping products with 'full' padding at dilations 1 and 2 (4 -> 5 -> 7),
each followed by per-cell sums, and a product at dilation 4 with 'final'
padding (7 -> 4) whose cells each cover the whole image. Ten class roots on
top give ``log p(x, y)`` per class, read as logits.

Usage::

    python3 examples/dgc_spn_digits.py             # full run, about a minute on 2 CPU cores
    python3 examples/dgc_spn_digits.py --quick     # smoke run: 1 epoch on a few hundred samples
    python3 examples/dgc_spn_digits.py --epochs 30
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import layers  # noqa: E402

NUM_CLASSES = 10


def load_data(seed, test_size=360):
    """Digits as standardized ``(N, 8, 8, 1)`` float32 images, split into train and test.

    Each pixel is standardized with the mean and standard deviation of the
    training images; pixels that barely vary (the borders) get a floor on their
    standard deviation so that they do not blow up.
    """
    digits = load_digits()
    images = digits.images.astype("float32")
    labels = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    mean = x_train.mean(axis=0)
    std = np.maximum(x_train.std(axis=0), 1.0)
    x_train = ((x_train - mean) / std)[..., None]
    x_test = ((x_test - mean) / std)[..., None]
    return (x_train, y_train), (x_test, y_test)


def build_dgc_spn(num_components=16, sums=(16, 32, 32), input_shape=(8, 8, 1)):
    """A DGC-SPN for 8x8 images; spatial sizes 8 -> 4 -> 5 -> 7 -> 4, then class roots.

    Sizes follow ``ceil((size + pads - k_eff + 1) / stride)`` with
    ``k_eff = (k - 1) * d + 1``: a non-overlapping product (8 -> 4), overlapping
    products with 'full' padding at dilations 1 (4 + 2 - 2 + 1 = 5) and 2
    (5 + 4 - 3 + 1 = 7), and a last product at dilation 4 with 'final' padding
    (k_eff = 5, (5 - 1) * 2 = 8 >= 7, so 1 cell of top/left padding and
    7 + 1 - 5 + 1 = 4), after which every cell covers the whole image.
    """
    sum_kwargs = dict(
        accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.5, mean=1.0),
        logspace_accumulators=True,
    )

    def product(strides, dilations, padding):
        return layers.Conv2DProduct(
            depthwise=True, strides=strides, dilations=dilations, kernel_size=[2, 2], padding=padding
        )

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.NormalLeaf(
                num_components=num_components,
                location_trainable=True,
                location_initializer=keras.initializers.TruncatedNormal(stddev=1.0, mean=0.0),
            ),
            # Non-overlapping products: 8 -> 4.
            product([2, 2], [1, 1], "valid"),
            layers.Local2DSum(num_sums=sums[0], **sum_kwargs),
            # Overlapping products with full padding: 4 -> 5, then 5 -> 7 at dilation 2.
            product([1, 1], [1, 1], "full"),
            layers.Local2DSum(num_sums=sums[1], **sum_kwargs),
            product([1, 1], [2, 2], "full"),
            layers.Local2DSum(num_sums=sums[2], **sum_kwargs),
            # Dilation 4 with 'final' padding joins all scopes: 7 -> 4.
            product([1, 1], [4, 4], "final"),
            layers.SpatialToRegions(),
            # Class roots: log p(x, y) per class.
            layers.DenseSum(num_sums=NUM_CLASSES, **sum_kwargs),
            layers.RootSum(
                return_weighted_child_logits=True,
                logspace_accumulators=True,
                accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.0, mean=1.0),
            ),
        ]
    )


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
    (x_train, y_train), (x_test, y_test) = load_data(args.seed)
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
        verbose=2,
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
