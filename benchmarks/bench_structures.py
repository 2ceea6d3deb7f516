"""Learned structures: structure-learning time, HCLT epoch time, the compiler on a deep chain, LearnSPN vs RAT-SPN.

Parts (``--parts``, default all):

- ``structure``: Chow-Liu tree (mutual information + spanning tree) of the training data.
- ``hclt``: seconds per HCLT training epoch (online EM, batches of 512) for
  each ``--latents``, with the default ``compile()`` and with ``jit_compile=False``
  (from each epoch's begin to its end, median of the epochs after the first).
- ``chain``: a depth-``--chain-depth`` chain region graph, ``--chain-width``
  sums per region, elementwise products: time of one training step of the
  default ``compile``/``fit`` (gradients, Adam) against the ideal
  ``3 x edges x K^2`` multiply-adds at the rate of a plain matmul of the same
  shapes, compiled alike, measured in the same run.
- ``learnspn``: a LearnSPN-style structure against a RAT-SPN with about as
  many parameters, both trained by the same online EM; test log-likelihoods.
- ``prune``: the LearnSPN-style model after training, pruned at several
  thresholds: parameters and training log-likelihood before and after, and
  the test log-likelihood after one epoch of fine-tuning.

Example::

    python3 benchmarks/bench_structures.py --data ../shared/data/debd --name accidents
    python3 benchmarks/bench_structures.py --quick       # tiny synthetic data, a smoke run
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import datasets, layers, models, optimizers  # noqa: E402
from libspn_keras.region_graph import RegionNode, RegionVariable  # noqa: E402
from libspn_keras.structure import chow_liu_tree, learn_region_graph, prune_partitions  # noqa: E402

SPLITS = ("train", "valid", "test")


def load(args):
    if args.quick:
        folder = tempfile.mkdtemp(prefix="bench_structures_")
        rng = np.random.default_rng(0)
        os.makedirs(os.path.join(folder, "synthetic"))
        centres = rng.random((4, 20)) < 0.5
        for split, size in zip(SPLITS, (2000, 300, 300)):
            data = centres[rng.integers(0, 4, size)] ^ (rng.random((size, 20)) < 0.1)
            np.savetxt(os.path.join(folder, "synthetic", f"synthetic.{split}.data"), data, fmt="%d", delimiter=",")
        args.data, args.name = folder, "synthetic"
    return [datasets.load_debd(args.data, args.name, split) for split in SPLITS]


def timed(function, repeats=1):
    """``(wall seconds per call, result)``; ``timed.cpu`` holds the process CPU seconds per call of the last use."""
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        result = function()
    timed.cpu = (time.process_time() - cpu_start) / repeats
    return (time.perf_counter() - start) / repeats, result


def bench_structure(train, args):
    chow_liu_tree(train)  # warm-up (imports, caches)
    seconds, _ = timed(lambda: chow_liu_tree(train), repeats=3)
    print(
        f"structure  {args.name}: Chow-Liu tree of {train.shape[1]} vars x {len(train)} samples: {seconds:.3f} s "
        f"({timed.cpu:.3f} CPU s)"
    )


class EpochTimer(keras.callbacks.Callback):
    """Wall and CPU seconds of every epoch from its begin to its end (not ``fit``'s iterator setup and teardown)."""

    def __init__(self):
        super().__init__()
        self.times, self.cpu_times = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)
        self.cpu_times.append(time.process_time() - self.cpu_start)


def em_epoch_seconds(model, train, batch_size, epochs, jit_compile):
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.1), jit_compile=jit_compile)
    timer = EpochTimer()
    for _ in range(epochs):
        model.fit(train, batch_size=batch_size, epochs=1, verbose=0, callbacks=[timer])
    return timer.times[0], float(np.median(timer.times[1:])), float(np.median(timer.cpu_times[1:]))


def bench_hclt(train, args):
    for num_latents in args.latents:
        for jit_compile in ("auto", False):
            keras.utils.set_random_seed(0)
            model = models.build_hclt(train, num_latents)
            first, per_epoch, cpu_per_epoch = em_epoch_seconds(model, train, 512, args.epochs, jit_compile)
            print(
                f"hclt       {args.name} K={num_latents} jit_compile={jit_compile!s:5}: {per_epoch:.3f} s/epoch "
                f"({cpu_per_epoch:.3f} CPU s) "
                f"(first epoch with tracing/compilation {first:.1f} s), {model.count_params()} params"
            )


def chain(depth):
    x = [RegionVariable(i) for i in range(depth + 1)]
    region = RegionNode([x[0], x[1]], product="elementwise")
    for i in range(2, depth + 1):
        region = RegionNode([region, x[i]], product="elementwise")
    return region


def plain_matmul_seconds(depth, width, batch, jit_compile):
    """Seconds of a forward and backward matmul of ``depth x batch`` rows by ``[width, width]`` (the ideal's rate)."""
    a = tf.random.normal([depth * batch, width])
    w = tf.Variable(tf.random.normal([width, width]))

    @tf.function(jit_compile=jit_compile)
    def plain():
        with tf.GradientTape() as tape:
            tape.watch(a)
            out = tf.reduce_sum(tf.matmul(a, w))
        return tape.gradient(out, [a, w])

    plain()
    return min(timed(plain, repeats=10)[0] for _ in range(3))


def report_chain(label, step_seconds, plain_seconds, args):
    depth, width, batch = args.chain_depth, args.chain_width, args.chain_batch
    rate = 3 * depth * batch * width**2 / plain_seconds  # the ideal step's multiply-adds (forward, twice backward)
    print(
        f"chain      depth {depth}, K={width}, batch {batch}, {label}: step {1e3 * step_seconds:.2f} ms, "
        f"ideal {1e3 * plain_seconds:.2f} ms at {rate / 1e9:.1f} G multiply-adds/s: "
        f"{step_seconds / plain_seconds:.2f}x the ideal"
    )


def bench_chain(args):
    """A training step of the default ``compile``/``fit`` (Adam), and with ``--chain-jit`` a bare XLA gradient step."""
    depth, width, batch = args.chain_depth, args.chain_width, args.chain_batch
    keras.utils.set_random_seed(0)
    model = models.compile_region_graph(chain(depth), layers.NormalLeaf(num_components=width), num_sums=width)
    x = np.random.default_rng(0).normal(size=(batch * args.chain_steps, depth + 1)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    timer = EpochTimer()
    for _ in range(3):
        model.fit(x, batch_size=batch, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    step_seconds = min(timer.times[1:]) / args.chain_steps
    jit_compile = getattr(model, "jit_compile", False) is True
    report_chain(
        f"fit (jit_compile={jit_compile})", step_seconds, plain_matmul_seconds(depth, width, batch, jit_compile), args
    )
    if not args.chain_jit:
        return
    inputs = tf.constant(x[:batch])
    variables = model.layers[-1].trainable_variables

    @tf.function(jit_compile=True)
    def step():
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(model(inputs))
        return tape.gradient(loss, variables)

    step()
    step_seconds = min(timed(step, repeats=10)[0] for _ in range(3))
    report_chain(
        "bare XLA step (unchecked weights)", step_seconds, plain_matmul_seconds(depth, width, batch, True), args
    )


def train_em(model, train, epochs):
    steps = int(np.ceil(len(train) / 512))
    schedule = keras.optimizers.schedules.PolynomialDecay(1.0, steps * epochs, end_learning_rate=0.05)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=schedule, pseudocount=1e-5))
    model.fit(train, batch_size=512, epochs=epochs, verbose=0)


def bench_learnspn(train, test, args):
    keras.utils.set_random_seed(0)
    rat = models.build_rat_spn(train.shape[1], 3, args.rat_repetitions, args.rat_sums, args.rat_sums, sum_op="em")
    target = rat.count_params()
    start = time.perf_counter()
    graph = learn_region_graph(train, min_instances=args.min_instances, seed=0)
    learn_seconds = time.perf_counter() - start
    num_sums, learned = 1, None
    while True:
        candidate = models.compile_region_graph(
            graph, layers.IndicatorLeaf(2), num_sums=num_sums + 1, num_input_sums=num_sums + 1, sum_op="em"
        )
        if candidate.count_params() > target and learned is not None:
            break
        num_sums, learned = num_sums + 1, candidate
    for name, model in (("rat-spn", rat), ("learnspn", learned)):
        seconds, _ = timed(lambda model=model: train_em(model, train, args.epochs))
        test_ll = float(model.log_likelihood(test).mean())
        print(
            f"learnspn   {args.name} {name:9}: {model.count_params()} params, {args.epochs} EM epochs in "
            f"{seconds:.1f} s, test LL {test_ll:.3f}"
            + (f" (structure learned in {learn_seconds:.1f} s, K={num_sums})" if name == "learnspn" else "")
        )


def bench_prune(train, test, args):
    keras.utils.set_random_seed(0)
    graph = learn_region_graph(train, min_instances=args.min_instances, seed=0)
    model = models.compile_region_graph(graph, layers.IndicatorLeaf(2), num_sums=8, num_input_sums=8, sum_op="em")
    train_em(model, train, args.epochs)
    for threshold in args.thresholds:
        pruned, report = prune_partitions(model, train, threshold=threshold)
        train_em(pruned, train, 1)
        print(
            f"prune      {args.name} threshold {threshold}: {report['partitions_removed']} partitions removed, params "
            f"{report['params_before']} -> {report['params_after']}, train LL {report['log_likelihood_before']:.3f} "
            f"-> {report['log_likelihood_after']:.3f}; after 1 epoch of fine-tuning test LL "
            f"{float(pruned.log_likelihood(test).mean()):.3f} (unpruned {float(model.log_likelihood(test).mean()):.3f})"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "debd"))
    parser.add_argument("--name", default="accidents")
    parser.add_argument("--parts", nargs="+", default=["structure", "hclt", "chain", "learnspn", "prune"])
    parser.add_argument("--latents", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--epochs", type=int, default=4, help="epochs for the timing and comparison runs")
    parser.add_argument("--chain-depth", type=int, default=100)
    parser.add_argument("--chain-width", type=int, default=32)
    parser.add_argument("--chain-batch", type=int, default=1024)
    parser.add_argument("--chain-steps", type=int, default=8, help="training steps per timed chain epoch")
    parser.add_argument("--chain-jit", action="store_true", help="also a bare XLA gradient step, outside fit")
    parser.add_argument("--rat-repetitions", type=int, default=10)
    parser.add_argument("--rat-sums", type=int, default=20)
    parser.add_argument("--min-instances", type=int, default=1000)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.02, 0.1, 0.3])
    parser.add_argument("--quick", action="store_true", help="tiny synthetic data and sizes (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.latents, args.epochs, args.chain_depth, args.chain_width, args.chain_batch = [4], 2, 10, 4, 64
        args.chain_steps, args.rat_repetitions, args.rat_sums, args.min_instances, args.thresholds = 2, 2, 3, 500, [0.3]
    train, _, test = load(args)
    parts = {
        "structure": lambda: bench_structure(train, args),
        "hclt": lambda: bench_hclt(train, args),
        "chain": lambda: bench_chain(args),
        "learnspn": lambda: bench_learnspn(train, test, args),
        "prune": lambda: bench_prune(train, test, args),
    }
    for part in args.parts:
        parts[part]()


if __name__ == "__main__":
    main()
