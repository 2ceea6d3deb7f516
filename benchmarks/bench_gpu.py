"""The GPU set in one run: two RAT-SPNs, the seed DGC-SPN and sampling, each against a plain matmul chain.

Rows (default compile everywhere, as a user writes it):

- RAT-SPN (a) depth 3 / 10 reps / 20 / 20 and (b) depth 5 / 32 / 32 / 32 on DEBD accidents,
  online EM 0.05, batch 100: s/epoch (median of the epochs after the first) and test LL;
- the seed DGC-SPN (28x28x1, ten class roots, Adam, batch 64, random data): training samples/s;
- drawing 1,000 images from the same DGC-SPN (``model.sample``): samples/s.

Every row is also timed against a "plain chain" built in the same process: the model's
contractions as linear-space ``einsum``/``matmul`` of the same shapes (no log, exp, max or
normalization; products as in the model), forward and backward. ``step/chain`` is the
ratio of one training step (or one sampling call) to that chain at the same batch.

Usage::

    python3 benchmarks/bench_gpu.py --output bench_gpu.md   # on a GPU machine, a few minutes
    python3 benchmarks/bench_gpu.py --dry-run               # tiny sizes on CPU: a smoke test
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_debd_rat_spn import EpochTimer, chain_ratio, step_time  # noqa: E402
from bench_sum_layers import build_seed_dgc_spn  # noqa: E402

from libspn_keras import datasets, metrics, models, optimizers  # noqa: E402

RAT_CONFIGS = {
    "a": dict(depth=3, num_decomps=10, num_input_distributions=20, num_sums=20),
    "b": dict(depth=5, num_decomps=32, num_input_distributions=32, num_sums=32),
}
DRY_RAT_CONFIGS = {
    "a": dict(depth=2, num_decomps=2, num_input_distributions=3, num_sums=3),
    "b": dict(depth=3, num_decomps=2, num_input_distributions=4, num_sums=4),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "debd"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dgc-steps", type=int, default=50)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--output", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes (runs on CPU in well under a minute)")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.epochs, args.dgc_steps, args.num_samples = 2, 1, 2
    return args


def debd(args):
    """Accidents train/test, or random binary rows of the same width when the files are absent."""
    if args.dry_run:
        rng = np.random.default_rng(0)
        return rng.integers(0, 2, (300, 16), dtype=np.int32), rng.integers(0, 2, (100, 16), dtype=np.int32), "random"
    try:
        return (
            datasets.load_debd(args.data, "accidents", "train"),
            datasets.load_debd(args.data, "accidents", "test"),
            "",
        )
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        train, test = rng.integers(0, 2, (12758, 111), dtype=np.int32), rng.integers(0, 2, (2551, 111), dtype=np.int32)
        return train, test, "random"


def rat_row(name, structure, train, test, args):
    keras.utils.set_random_seed(1)
    model = models.build_rat_spn(num_vars=train.shape[1], sum_op="em", **structure)
    model.compile(
        optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.05), metrics=[metrics.LogLikelihood()]
    )
    timer = EpochTimer()
    model.fit(train, batch_size=100, epochs=args.epochs, shuffle=True, verbose=0, callbacks=[timer])
    test_ll = float(np.mean(model.log_likelihood(test)))
    repeats = 1 if args.dry_run else 5
    step, chain = chain_ratio(model, tf.constant(train[:100]), 100, model.jit_compile is True, repeats=repeats)
    params = f"{model.count_params():,}"
    seconds = float(np.median(timer.seconds[1:]))
    return [
        f"RAT-SPN ({name})",
        params,
        f"{seconds:.2f} s/epoch",
        f"{test_ll:.2f}",
        f"{step * 1e3:.1f}",
        f"{chain * 1e3:.1f}",
        f"{step / chain:.2f}",  # from the measured times, not from the rounded ms above
    ]


def plain_contraction(h, weights):
    """``h`` contracted with linear weights shaped like a sum layer's accumulators."""
    if weights.shape.rank == 2:
        return tf.matmul(tf.reshape(h, [tf.shape(h)[0], -1]), weights)
    lead = "abcdefgh"[: weights.shape.rank - 2]
    return tf.einsum(f"z{lead}x,{lead}xy->z{lead}y", h, weights)


def plain_chain(model, batch_size):
    """Forward and backward of the model above its leaf with sums as plain contractions (see the module docstring)."""
    stack = model.layers[1:]  # the leaf is the first layer of the seed DGC-SPN
    weights = [tf.Variable(tf.random.uniform(layer.accumulators.shape)) for layer in stack if hasattr(layer, "sum_op")]
    leaf = tf.random.uniform((batch_size, *model.layers[0].compute_output_shape((None, 28, 28, 1))[1:]))

    def step():
        with tf.GradientTape() as tape:
            tape.watch(leaf)
            h, weight = leaf, iter(weights)
            for layer in stack:
                h = plain_contraction(h, next(weight)) if hasattr(layer, "sum_op") else layer(h)
            out = tf.reduce_sum(h)
        return tape.gradient(out, [leaf, *weights])

    return tf.function(step)


def dgc_rows(args):
    batch = 2 if args.dry_run else 64
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=(batch,)).astype("int32")
    keras.utils.set_random_seed(0)
    model = build_seed_dgc_spn()  # the seed's plain keras.Sequential, compiled as its README does
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(args.dgc_steps):
        loss = model.train_on_batch(x, y)
    seconds = (time.perf_counter() - start) / args.dgc_steps
    if not np.isfinite(loss):
        raise RuntimeError(f"DGC-SPN training produced a non-finite loss {loss}")
    chain = step_time(plain_chain(model, batch), 1 if args.dry_run else 5)
    params = f"{model.count_params():,}"
    rows = [[f"DGC-SPN training (batch {batch})", params, f"{batch / seconds:,.0f} samples/s", "—"]]
    rows[-1] += [f"{seconds * 1e3:.1f}", f"{chain * 1e3:.1f}", f"{seconds / chain:.2f}"]

    spn = models.SequentialSumProductNetwork([keras.Input(shape=(28, 28, 1)), *model.layers], unsupervised=False)
    spn.sample(args.num_samples, seed=0)  # warm-up: traces the sampling graph for this many rows
    start = time.perf_counter()
    spn.sample(args.num_samples, seed=0)
    seconds = time.perf_counter() - start
    chain = step_time(plain_chain(model, args.num_samples), 1 if args.dry_run else 3)
    rows.append(
        [f"DGC-SPN sampling {args.num_samples:,} images", params, f"{args.num_samples / seconds:,.0f} samples/s"]
    )
    rows[-1] += ["—", f"{seconds * 1e3:.1f}", f"{chain * 1e3:.1f}", f"{seconds / chain:.2f}"]
    return rows


def table(rows, note):
    device = ", ".join(d.name for d in tf.config.list_physical_devices("GPU")) or "CPU only"
    lines = [
        f"Device: {device}; TensorFlow {tf.__version__}, Keras {keras.__version__}. {note}".strip(),
        "",
        "| benchmark | params | time / throughput | test LL | step ms | plain chain ms | step/chain |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, params, speed, test_ll, step, chain, ratio in rows:
        lines.append(f"| {name} | {params} | {speed} | {test_ll} | {step} | {chain} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    train, test, source = debd(args)
    configs = DRY_RAT_CONFIGS if args.dry_run else RAT_CONFIGS
    # Each group prints its rows as soon as they are measured, so a run cut short by its time
    # limit (or a group that fails on an unfamiliar machine) still leaves the others' figures.
    groups = [
        (f"RAT-SPN ({name})", lambda n=name, c=structure: [rat_row(n, c, train, test, args)])
        for name, structure in configs.items()
    ]
    groups.append(("DGC-SPN", lambda: dgc_rows(args)))
    rows, failures = [], []
    for label, measure in groups:
        try:
            measured = measure()
        except Exception as error:  # noqa: BLE001 - reported in the table's note, the other groups still run
            failures.append(
                f"{label} failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            )
            print(failures[-1], flush=True)
            if args.dry_run:
                raise
            continue
        for row in measured:
            print("row:", " | ".join(row), flush=True)
        rows += measured
    note = "Dry run: tiny sizes, random data." if args.dry_run else ""
    if source == "random" and not args.dry_run:
        note += " DEBD files not found: random binary data of the accidents shape (test LL meaningless)."
    note = " ".join([note, *failures]).strip()
    text = table(rows, note) + f"\n\nTotal {time.perf_counter() - start:.0f} s.\n"
    print(text)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
