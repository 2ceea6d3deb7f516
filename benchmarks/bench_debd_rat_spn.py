"""RAT-SPN density estimation on a DEBD dataset with online EM (or Adam), timed per epoch.

Example:
    python3 benchmarks/bench_debd_rat_spn.py --data ../shared/data/debd --name accidents --epochs 3
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import datasets, initializers, metrics, models, optimizers  # noqa: E402


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
    parser.add_argument("--alpha", type=float, default=0.3, help="initial sum weights drawn from Dirichlet(alpha)")
    return parser.parse_args()


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = getattr(self, "seconds", []) + [time.perf_counter() - self.start]


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
        accumulator_initializer=initializers.Dirichlet(args.alpha, logspace=not em),
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
    model.fit(train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, verbose=2, callbacks=[timer])
    test_ll = model.evaluate(test, batch_size=1000, verbose=0, return_dict=True)["log_likelihood"]
    print(
        f"\n| dataset | optimizer | jit | params | s/epoch (first, rest median) | test LL after {args.epochs} epochs |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    rest = np.median(timer.seconds[1:]) if len(timer.seconds) > 1 else float("nan")
    print(
        f"| {args.name} | {args.optimizer} (lr {args.learning_rate}) | {args.jit} | {args.steps_per_execution} | "
        f"{model.count_params():,} | "
        f"{timer.seconds[0]:.2f}, {rest:.2f} | {test_ll:.3f} |"
    )


if __name__ == "__main__":
    main()
