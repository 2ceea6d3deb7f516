"""The seed DGC-SPN on Fashion-MNIST: training throughput and test accuracy, with Adam or with EM.

Examples:
    python3 benchmarks/bench_dgc_fashion_mnist.py --optimizer adam --epochs 2
    python3 benchmarks/bench_dgc_fashion_mnist.py --optimizer em --epochs 1 --jit
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import datasets, layers, losses, metrics, optimizers  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", choices=["adam", "em"], default="adam")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=None, help="default 1e-2 for Adam, 0.05 for EM")
    parser.add_argument("--train-samples", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--jit", action="store_true")
    parser.add_argument("--idx-dir", default=None, help="folder of the Fashion-MNIST IDX files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-dropout", type=float, default=0.0, help="LogDropout rate below every sum layer")
    return parser.parse_args()


def dgc_spn(em, log_dropout=0.0):
    """The seed README's DGC-SPN; with ``em`` its sums use soft EM and linear accumulators.

    ``log_dropout`` > 0 puts a ``LogDropout`` of that rate below every sum layer (training only).
    """
    dropout = [layers.LogDropout(log_dropout)] if log_dropout else []
    if em:
        sum_kwargs = dict(sum_op="em")
        root_kwargs = dict(sum_op="em")
    else:
        sum_kwargs = dict(
            accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.5, mean=1.0),
            logspace_accumulators=True,
        )
        root_kwargs = dict(
            logspace_accumulators=True,
            accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.0, mean=1.0),
        )
    stack = [
        keras.Input((28, 28, 1)),
        layers.NormalLeaf(
            num_components=16,
            location_trainable=not em,
            use_accumulators=em,
            location_initializer=keras.initializers.TruncatedNormal(stddev=1.0, mean=0.0),
        ),
    ]
    for dilation, padding, sums in [
        (1, "valid", 16),
        (1, "valid", 32),
        (1, "full", 32),
        (2, "full", 64),
        (4, "full", 64),
    ]:
        stride = 2 if padding == "valid" else 1
        stack += [
            layers.Conv2DProduct(
                depthwise=True, strides=[stride] * 2, dilations=[dilation] * 2, kernel_size=[2, 2], padding=padding
            ),
            *([layers.LogDropout(log_dropout)] if log_dropout else []),
            layers.Local2DSum(num_sums=sums, **sum_kwargs),
        ]
    stack += [
        layers.Conv2DProduct(depthwise=True, strides=[1, 1], dilations=[8, 8], kernel_size=[2, 2], padding="final"),
        layers.SpatialToRegions(),
        *dropout,
        layers.DenseSum(num_sums=10, **sum_kwargs),
        layers.RootSum(return_weighted_child_logits=True, **root_kwargs),
    ]
    return keras.Sequential(stack)


class Throughput(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = getattr(self, "seconds", []) + [time.perf_counter() - self.start]


def main():
    args = parse_args()
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(args.idx_dir)
    if args.train_samples:
        x_train, y_train = x_train[: args.train_samples], y_train[: args.train_samples]
    mean, std = x_train.mean(), x_train.std()
    x_train = ((x_train - mean) / std).astype("float32")[..., None]
    x_test = ((x_test - mean) / std).astype("float32")[..., None]
    em = args.optimizer == "em"
    model = dgc_spn(em, args.log_dropout)
    if em:
        # Supervised generative EM: each class root learns p(x | y) from the samples of its class.
        model.compile(
            optimizer=optimizers.OnlineExpectationMaximization(learning_rate=args.learning_rate or 0.05),
            loss=losses.NegativeLogJoint(),
            metrics=["sparse_categorical_accuracy", metrics.LogJoint()],
            jit_compile=args.jit,
        )
    else:
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate or 1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["sparse_categorical_accuracy"],
            jit_compile=args.jit,
        )
    timer = Throughput()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2, callbacks=[timer])
    accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)[
        "sparse_categorical_accuracy"
    ]
    samples_per_second = len(x_train) / np.median(timer.seconds[1:] if len(timer.seconds) > 1 else timer.seconds)
    print("\n| optimizer | jit | log dropout | batch | train samples | epochs | samples/s | test accuracy |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.optimizer} | {args.jit} | {args.log_dropout} | {args.batch_size} | {len(x_train):,} | {args.epochs} "
        f"| {samples_per_second:.0f} | {accuracy:.4f} |"
    )


if __name__ == "__main__":
    main()
