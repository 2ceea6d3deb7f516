"""One side of ``bench_seed_vs_original.py``: the seed README's DGC-SPN, as written, trained with this library or 0.6.0.

The model is the README's plain ``keras.Sequential`` of library layers, built by the same code for
both libraries (the layer API is the same), compiled as a user would (``Adam``, cross-entropy on the
class roots' logits, ``"accuracy"``) with no other argument, and trained by ``fit``. Runs in whichever
Python starts it: ``--library ours`` imports this repository's ``libspn_keras``, ``--library original``
expects libspn-keras 0.6.0 on legacy Keras (see ``bench_vs_original.py``). ``--model spn`` (ours only)
puts the same layers in a ``SequentialSumProductNetwork`` instead. Prints one JSON line.

Example (ours only, random images):
    python3 benchmarks/seed_dgc_side.py --library ours --steps 20
"""

import argparse
import json
import os
import sys
import time

import numpy as np

if "--library" in sys.argv and sys.argv[sys.argv.index("--library") + 1] == "original":
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # 0.6.0 runs on tf_keras (Keras 2) only
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", choices=["ours", "original"], required=True)
    parser.add_argument("--model", choices=["plain", "spn"], default="plain", help="spn: SequentialSumProductNetwork")
    parser.add_argument("--data", default=None, help=".npz with standardized images x [n, 28, 28, 1] and labels y")
    parser.add_argument("--steps", type=int, default=60, help="batches per epoch (two epochs; the second is timed)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--predict-samples", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def seed_layers(layers, keras, input_shape=(28, 28, 1)):
    """The layers of the seed README's DGC-SPN (28x28x1 images, ten class roots), for either library.

    The leaf takes ``input_shape`` as the README writes it; ``None`` leaves it out, for a model that starts with a
    ``keras.Input``.
    """
    leaf_shape = {} if input_shape is None else dict(input_shape=input_shape)
    sum_kwargs = dict(
        accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.5, mean=1.0), logspace_accumulators=True
    )

    def product(strides, dilations, padding):
        return layers.Conv2DProduct(
            depthwise=True, strides=strides, dilations=dilations, kernel_size=[2, 2], padding=padding
        )

    return [
        layers.NormalLeaf(
            **leaf_shape,
            num_components=16,
            location_trainable=True,
            location_initializer=keras.initializers.TruncatedNormal(stddev=1.0, mean=0.0),
        ),
        product([2, 2], [1, 1], "valid"),
        layers.Local2DSum(num_sums=16, **sum_kwargs),
        product([2, 2], [1, 1], "valid"),
        layers.Local2DSum(num_sums=32, **sum_kwargs),
        product([1, 1], [1, 1], "full"),
        layers.Local2DSum(num_sums=32, **sum_kwargs),
        product([1, 1], [2, 2], "full"),
        layers.Local2DSum(num_sums=64, **sum_kwargs),
        product([1, 1], [4, 4], "full"),
        layers.Local2DSum(num_sums=64, **sum_kwargs),
        product([1, 1], [8, 8], "final"),
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=10, **sum_kwargs),
        layers.RootSum(
            return_weighted_child_logits=True,
            logspace_accumulators=True,
            accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.0, mean=1.0),
        ),
    ]


def load(args):
    rows = args.steps * args.batch_size
    if args.data:
        data = np.load(args.data)
        return data["x"][:rows].astype("float32"), data["y"][:rows].astype("int32")
    rng = np.random.default_rng(args.seed)
    return rng.normal(size=(rows, 28, 28, 1)).astype("float32"), rng.integers(0, 10, size=rows).astype("int32")


class StepTimer(tf.keras.callbacks.Callback):
    """Seconds of every training batch (batch begin to batch end), per epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_steps = getattr(self, "epoch_steps", []) + [[]]

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.epoch_steps[-1].append(time.perf_counter() - self.start)


def main(argv=None):
    args = parse_args(argv)
    from tensorflow import keras

    from libspn_keras import layers

    if args.library == "original":
        keras.optimizers.Optimizer = keras.optimizers.legacy.Optimizer  # as rat_spn_side.py does for 0.6.0
    keras.utils.set_random_seed(args.seed)
    stack = seed_layers(layers, keras)
    if args.model == "spn":
        from libspn_keras import models

        model = models.SequentialSumProductNetwork(stack)
    else:
        model = keras.Sequential(stack)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x, y = load(args)
    timer = StepTimer()
    model.fit(x, y, batch_size=args.batch_size, epochs=2, verbose=0, callbacks=[timer])
    images = x[: args.predict_samples]
    model.predict(images, batch_size=256, verbose=0)  # traces the prediction step
    start = time.perf_counter()
    model.predict(images, batch_size=256, verbose=0)
    predict_seconds = time.perf_counter() - start
    steps = np.array(timer.epoch_steps[-1])
    result = {
        "library": args.library,
        "model": args.model,
        "params": int(model.count_params()),
        "jit_compile": str(getattr(model, "jit_compile", None)),
        # The second epoch's batches: the first epoch traces (and with XLA compiles) the step.
        "fit_step_ms": 1e3 * float(np.median(steps)),
        "training_samples_per_second": args.batch_size / float(np.median(steps)),
        "predict_samples_per_second": len(images) / predict_seconds,
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
