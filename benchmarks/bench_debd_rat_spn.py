"""RAT-SPN density estimation on a DEBD dataset with online EM (or Adam), timed per epoch.

Example:
    python3 benchmarks/bench_debd_rat_spn.py --data ../shared/data/debd --name accidents --epochs 3
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import datasets, initializers, layers, metrics, models, optimizers  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "debd"))
    parser.add_argument("--name", default="accidents")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--input-distributions", type=int, default=20)
    parser.add_argument("--sums", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--optimizer", choices=["em", "adam"], default="em")
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--steps-per-execution", type=int, default=1, help="train steps per tf.function call")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alpha", type=float, default=1.0, help="initial sum weights drawn from Dirichlet(alpha)")
    return parser.parse_args()


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = getattr(self, "seconds", []) + [time.perf_counter() - self.start]


def plain_chain(model, batch_size):
    """The model's contractions in linear space with no log, exp, max or normalization: the matmul floor.

    Returns a function computing forward + backward (gradients for every weight) of the chain on
    random positive leaf values of the leaf's output shape.
    """
    stack = model.layers[[type(layer).__name__ for layer in model.layers].index("IndicatorLeaf") + 1 :]
    weights = [tf.Variable(tf.random.uniform(layer.accumulators.shape)) for layer in stack if hasattr(layer, "sum_op")]
    leaf_shape = (batch_size, model.inputs[0].shape[1], model.layers[0].num_decomps, 2)
    leaf_values = tf.random.uniform(leaf_shape)

    def forward():
        h = leaf_values
        weight = iter(weights)
        for layer in stack:
            kind = type(layer).__name__
            if kind == "PermuteAndPadScopesRandom":
                h = layers.PermuteAndPadScopesRandom.call(layer, tf.math.log(h))
                h = tf.exp(h)
            elif kind == "DenseSum":
                h = tf.einsum("bsrc,srck->bsrk", h, next(weight))
            elif kind == "ReduceProduct":
                h = tf.reduce_prod(layer.grouped(h), axis=2)
            elif kind == "DenseProduct":
                g = layer.grouped(h)
                h = g[:, :, 0, :, :, None] * g[:, :, 1, :, None, :]
                h = tf.reshape(h, [-1, h.shape[1], h.shape[2], h.shape[3] * h.shape[4]])
            elif kind == "RootSum":
                h = tf.matmul(tf.reshape(h, [batch_size, -1]), next(weight))
        return h

    def step():
        with tf.GradientTape() as tape:
            out = tf.reduce_sum(forward())
        return tape.gradient(out, weights)

    return step


def step_time(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def chain_ratio(model, batch, batch_size, jit, repeats=20):
    """Seconds of one training step (forward, backward, update) and of the plain matmul chain."""

    @tf.function(jit_compile=jit)
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(tf.reduce_logsumexp(model(x, training=True), axis=-1))
        model.optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
        return loss

    chain = tf.function(plain_chain(model, batch_size), jit_compile=jit)
    return step_time(lambda: train_step(batch), repeats), step_time(chain, repeats)


def main():
    args = parse_args()
    keras.utils.set_random_seed(args.seed)
    train = datasets.load_debd(args.data, args.name, "train")
    test = datasets.load_debd(args.data, args.name, "test")
    em = args.optimizer == "em"
    model = models.build_rat_spn(
        num_vars=train.shape[1],
        depth=args.depth,
        num_decomps=args.repetitions,
        num_input_distributions=args.input_distributions,
        num_sums=args.sums,
        sum_op="em" if em else "grad",
        accumulator_initializer=initializers.Dirichlet(alpha=args.alpha, logspace=not em),
    )
    optimizer = (
        optimizers.OnlineExpectationMaximization(learning_rate=args.learning_rate)
        if em
        else keras.optimizers.Adam(learning_rate=args.learning_rate)
    )
    model.compile(
        optimizer=optimizer,
        metrics=[metrics.LogLikelihood()],
        jit_compile=args.jit,
        steps_per_execution=args.steps_per_execution,
    )
    timer = EpochTimer()
    if args.epochs:
        model.fit(train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, verbose=2, callbacks=[timer])
    test_ll = model.evaluate(test, batch_size=1000, verbose=0, return_dict=True)["llh"]
    step, chain = chain_ratio(model, tf.constant(train[: args.batch_size]), args.batch_size, args.jit)
    seconds = getattr(timer, "seconds", [float("nan")])
    rest = np.median(seconds[1:]) if len(seconds) > 1 else float("nan")
    print(
        "\n| dataset | structure | optimizer | jit | steps/exec | params | s/epoch (first, median of rest) "
        f"| test LL after {args.epochs} epochs | step ms | plain chain ms | ratio |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.name} | depth {args.depth}, {args.repetitions} reps, {args.input_distributions} inputs, "
        f"{args.sums} sums | {args.optimizer} (lr {args.learning_rate}) | {args.jit} | {args.steps_per_execution} "
        f"| {model.count_params():,} | {seconds[0]:.2f}, {rest:.2f} | {test_ll:.3f} | {step * 1e3:.1f} "
        f"| {chain * 1e3:.1f} | {step / chain:.2f} |"
    )


if __name__ == "__main__":
    main()
