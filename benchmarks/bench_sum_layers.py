"""Speed of the sum layers against a plain linear-space matmul of the same shapes, and DGC-SPN throughput.

For ``DenseSum``, ``Local2DSum`` and ``Conv2DSum`` this times, under
``tf.function`` and under ``tf.function(jit_compile=True)``:

- ``layer``: the layer's ``call`` (accumulator normalization + log-matmul),
- ``log_matmul``: the log-space kernel alone, on already normalized weights,
- ``plain``: ``tf.einsum`` / ``tf.matmul`` of the same contraction in linear
  space, with no normalization and no max trick,

each for the forward pass and for forward + backward (gradients with respect
to the input and to the weights of ``reduce_sum`` of the output), and prints
the median over the repeats and the ratio to ``plain``.

It then trains the DGC-SPN of the README (28x28x1 input, ten class roots) with
Adam on random data and prints its throughput in samples per second, with and
without ``jit_compile``.

Usage::

    python3 benchmarks/bench_sum_layers.py            # default sizes, a few minutes at most on 2 CPU cores
    python3 benchmarks/bench_sum_layers.py --quick    # tiny shapes, 3 repeats: a smoke test
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from seed_dgc_side import seed_layers  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import layers  # noqa: E402
from libspn_keras.math.log_matmul import log_matmul  # noqa: E402
from libspn_keras.sum_ops.base import normalized_weights  # noqa: E402

SUM_KWARGS = dict(
    accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.5, mean=1.0),
    logspace_accumulators=True,
)


def sum_cases(quick):
    """``(name, layer class, input shape, num_sums, plain equation)`` of every benchmarked sum layer."""
    if quick:
        return [
            ("DenseSum", layers.DenseSum, (8, 2, 2, 4), 4, "bsdx,sdxy->bsdy"),
            ("Local2DSum", layers.Local2DSum, (8, 4, 4, 4), 4, "brcx,rcxy->brcy"),
            ("Conv2DSum", layers.Conv2DSum, (8, 4, 4, 4), 4, None),
        ]
    return [
        ("DenseSum", layers.DenseSum, (256, 16, 8, 64), 64, "bsdx,sdxy->bsdy"),
        ("Local2DSum", layers.Local2DSum, (256, 8, 8, 64), 64, "brcx,rcxy->brcy"),
        ("Conv2DSum", layers.Conv2DSum, (256, 8, 8, 64), 64, None),
    ]


def plain_contraction(equation):
    """Linear-space contraction of ``x`` with ``w``: an einsum, or a flat matmul for shared weights."""
    if equation is not None:
        return lambda x, w: tf.einsum(equation, x, w)

    def shared(x, w):
        flat = tf.reshape(x, [-1, x.shape[-1]])
        return tf.reshape(tf.matmul(flat, w), tf.concat([tf.shape(x)[:-1], tf.shape(w)[-1:]], axis=0))

    return shared


def forward_and_backward(fn, variables):
    """``fn(x)`` differentiated (``reduce_sum`` of the output) with respect to ``x`` and ``variables``."""

    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(fn(x))
        return tape.gradient(loss, [x, *variables])

    return run


def sync(result):
    """Waits for ``result`` (cheaply, by fetching one element) so that timings on a GPU are honest."""
    first = tf.nest.flatten(result)[0]
    return first[(0,) * first.shape.rank].numpy()


def median_ms(calls, repeats, warmup=2):
    """Median milliseconds of every ``(fn, arg)`` in ``calls`` (a dict).

    The calls are timed round-robin, one run of each per round, so that load
    from other processes on the machine hits all of them alike.
    """
    for fn, arg in calls.values():
        for _ in range(warmup):
            sync(fn(arg))
    times = {key: [] for key in calls}
    for _ in range(repeats):
        for key, (fn, arg) in calls.items():
            start = time.perf_counter()
            sync(fn(arg))
            times[key].append(time.perf_counter() - start)
    return {key: 1000.0 * statistics.median(values) for key, values in times.items()}


def bench_sum_layers(quick, repeats):
    """Rows ``(name, shape, compile, pass, layer ms, log_matmul ms, plain ms)``."""
    rng = np.random.default_rng(0)
    rows = []
    for name, layer_cls, shape, num_sums, equation in sum_cases(quick):
        layer = layer_cls(num_sums=num_sums, **SUM_KWARGS)
        layer.build(shape)
        w_shape = tuple(layer.accumulators.shape)
        log_x = tf.constant(rng.normal(size=shape).astype("float32") - 2.0)
        lin_x = tf.exp(log_x)
        weights = tf.Variable(rng.uniform(0.1, 1.0, size=w_shape).astype("float32"))
        normalized = tf.Variable(normalized_weights(layer.accumulators, True))
        plain = plain_contraction(equation)
        fns = {
            "layer": (layer.call, layer.trainable_variables, log_x),
            "log_matmul": (lambda x, w=normalized: log_matmul(x, w), [normalized], log_x),
            "plain": (lambda x, w=weights, f=plain: f(x, w), [weights], lin_x),
        }
        shape_text = f"[{','.join(map(str, shape))}] -> {num_sums}"
        for jit in (False, True):
            for pass_name in ("fwd", "fwd+bwd"):
                calls = {}
                for key, (fn, variables, x) in fns.items():
                    body = fn if pass_name == "fwd" else forward_and_backward(fn, variables)
                    calls[key] = (tf.function(body, jit_compile=jit), x)
                timings = median_ms(calls, repeats)
                rows.append(
                    (
                        name,
                        shape_text,
                        "xla" if jit else "graph",
                        pass_name,
                        timings["layer"],
                        timings["log_matmul"],
                        timings["plain"],
                    )
                )
    return rows


def print_sum_table(rows, repeats):
    print(f"Sum layers vs. a plain linear-space matmul of the same shapes (median of {repeats} runs, ms)")
    header = (
        f"{'layer':<11} {'input -> sums':<25} {'compile':<7} {'pass':<8} {'layer':>9} {'log_mm':>9} "
        f"{'plain':>9} {'layer/plain':>12} {'log_mm/plain':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, shape_text, compile_mode, pass_name, layer_ms, log_mm_ms, plain_ms in rows:
        print(
            f"{name:<11} {shape_text:<25} {compile_mode:<7} {pass_name:<8} {layer_ms:>9.3f} {log_mm_ms:>9.3f} "
            f"{plain_ms:>9.3f} {layer_ms / plain_ms:>11.2f}x {log_mm_ms / plain_ms:>12.2f}x"
        )


def build_seed_dgc_spn():
    """The DGC-SPN of the README (28x28x1 input, 1,214,498 parameters), its plain ``keras.Sequential``."""
    return keras.Sequential(seed_layers(layers, keras))


def bench_dgc_spn(batch_size, steps, jit_modes=(False, True)):
    """Rows ``(compile, samples/s, ms/step, first-step s)`` of Adam training on random data."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=(batch_size,)).astype("int32")
    rows = []
    for jit in jit_modes:
        keras.utils.set_random_seed(0)
        model = build_seed_dgc_spn()
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        start = time.perf_counter()
        model.train_on_batch(x, y)  # warm-up: traces (and compiles) the train step
        first_step = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.train_on_batch(x, y)
        seconds = time.perf_counter() - start
        if not np.isfinite(loss):
            raise RuntimeError(f"DGC-SPN training produced a non-finite loss {loss} (jit_compile={jit})")
        rows.append(("xla" if jit else "graph", batch_size * steps / seconds, 1000.0 * seconds / steps, first_step))
    return rows


def print_dgc_table(rows, batch_size, steps):
    print(f"DGC-SPN of the README, 28x28x1, Adam training on random data (batch {batch_size}, {steps} steps)")
    header = f"{'compile':<7} {'samples/s':>10} {'ms/step':>9} {'first step s':>13}"
    print(header)
    print("-" * len(header))
    for compile_mode, samples_per_second, ms_per_step, first_step in rows:
        print(f"{compile_mode:<7} {samples_per_second:>10.1f} {ms_per_step:>9.1f} {first_step:>13.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes and 3 repeats (a smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default 20)")
    parser.add_argument("--steps", type=int, default=None, help="timed DGC-SPN training steps (default 5)")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 20)
    steps = args.steps if args.steps is not None else (2 if args.quick else 5)
    batch_size = 8 if args.quick else 64

    devices = ", ".join(d.device_type for d in tf.config.list_logical_devices())
    print(f"TensorFlow {tf.__version__}, devices: {devices}, {os.cpu_count()} CPUs visible")
    print()
    rows = bench_sum_layers(args.quick, repeats)
    print_sum_table(rows, repeats)
    print()
    # XLA compilation of the whole DGC-SPN train step alone takes ~25 s on 2 CPU cores: not in a smoke test.
    jit_modes = (False,) if args.quick else (False, True)
    print_dgc_table(bench_dgc_spn(batch_size, steps, jit_modes), batch_size, steps)
    if args.quick:
        print("(xla row skipped with --quick)")


if __name__ == "__main__":
    main()
