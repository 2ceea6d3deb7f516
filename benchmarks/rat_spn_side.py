"""One side of ``bench_vs_original.py``: trains and queries a RAT-SPN with this library or with libspn-keras 0.6.0.

Runs in whichever Python starts it: ``--library ours`` imports this repository's ``libspn_keras``;
``--library original`` expects libspn-keras 0.6.0 on legacy Keras (see ``bench_vs_original.py``).
Both sides use default ``compile`` and ``fit`` arguments, the recipe of the original's RAT-SPN
tutorial (online EM 0.05, batch 100) and print one JSON line of timings.

Example (ours only):
    python3 benchmarks/rat_spn_side.py --library ours --epochs 2 --max-steps 20
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

if "--library" in sys.argv and sys.argv[sys.argv.index("--library") + 1] == "original":
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # 0.6.0 runs on tf_keras (Keras 2) only
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

QUERIES = ("predict", "evaluate", "log_likelihood", "sample", "complete")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", choices=["ours", "original"], required=True)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "debd"))
    parser.add_argument("--name", default="accidents")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--input-distributions", type=int, default=20)
    parser.add_argument("--sums", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=0, help="train on the first N batches only (0: all)")
    parser.add_argument("--queries", nargs="*", default=list(QUERIES), choices=QUERIES)
    parser.add_argument("--query-samples", type=int, default=1000)
    parser.add_argument("--random-data", type=int, default=0, help="N random binary rows instead of DEBD files")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def load(args):
    if args.random_data:
        rng = np.random.default_rng(args.seed)
        return [rng.integers(0, 2, size=(args.random_data, 24), dtype=np.int32) for _ in range(2)]
    read = [
        np.loadtxt(os.path.join(args.data, args.name, f"{args.name}.{split}.data"), delimiter=",", dtype=np.int32)
        for split in ("train", "test")
    ]
    return read


class EpochTimer(tf.keras.callbacks.Callback):
    """Seconds per epoch, and per training batch (``on_train_batch_begin`` to ``on_train_batch_end``: the step
    itself, without the data pipeline's pauses between steps), per epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        self.step_seconds = getattr(self, "step_seconds", []) + [[]]

    def on_train_batch_begin(self, batch, logs=None):
        self.step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step_seconds[-1].append(time.perf_counter() - self.step_start)

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = getattr(self, "seconds", []) + [time.perf_counter() - self.start]


def timed(function, repeats=2):
    """Seconds of the fastest of ``repeats`` calls after one warm-up call (which traces)."""
    function()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def build_ours(args, num_vars):
    from libspn_keras import metrics, models, optimizers

    model = models.build_rat_spn(
        num_vars=num_vars,
        depth=args.depth,
        num_decomps=args.repetitions,
        num_input_distributions=args.input_distributions,
        num_sums=args.sums,
        sum_op="em",
    )
    model.compile(
        optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.05), metrics=[metrics.LogLikelihood()]
    )
    return model


def original_stack(spnk, args, num_vars):
    stack = [
        spnk.layers.FlatToRegions(num_decomps=args.repetitions, input_shape=[num_vars], dtype=tf.int32),
        spnk.layers.IndicatorLeaf(num_components=2),
        spnk.layers.DenseSum(num_sums=args.input_distributions),
        spnk.layers.PermuteAndPadScopesRandom(),
        spnk.layers.ReduceProduct(num_factors=math.ceil(num_vars / 2**args.depth)),
    ]
    for level in range(args.depth):
        stack += [
            spnk.layers.DenseProduct(num_factors=2),
            spnk.layers.DenseSum(num_sums=1 if level == args.depth - 1 else args.sums),
        ]
    return stack + [spnk.layers.RootSum(return_weighted_child_logits=False)]


def import_original():
    tf.keras.optimizers.Optimizer = tf.keras.optimizers.legacy.Optimizer  # 0.6.0's EM optimizer uses the old API
    import libspn_keras as spnk

    return spnk


def build_original(args, num_vars):
    spnk = import_original()
    spnk.set_default_sum_op(spnk.SumOpEMBackprop())
    model = spnk.models.SequentialSumProductNetwork(original_stack(spnk, args, num_vars))
    model.compile(
        optimizer=spnk.optimizers.OnlineExpectationMaximization(learning_rate=0.05),
        loss=spnk.losses.NegativeLogLikelihood(),
        metrics=[spnk.metrics.LogLikelihood()],
    )
    return model


def original_query_model(args, model, num_vars, sum_op):
    """0.6.0 answers sampling/completion with a second model built with ``infer_no_evidence=True``."""
    spnk = import_original()
    spnk.set_default_sum_op(sum_op)
    query_model = spnk.models.SequentialSumProductNetwork(
        original_stack(spnk, args, num_vars), infer_no_evidence=True, unsupervised=False
    )
    query_model.build()
    query_model.input_spec = None  # 0.6.0 needs this before predict([x, mask])
    for source, target in zip(model.layers, query_model.layers):
        for variable, value in zip(target.weights, source.get_weights()):
            variable.assign(value)  # the scope permutations are (non-trainable) weights too
    return query_model


def query_timings(args, model, test, num_vars):
    n = min(args.query_samples, len(test))
    x = test[:n]
    rng = np.random.default_rng(args.seed)
    evidence = rng.random(x.shape) < 0.5
    times = {}
    if "predict" in args.queries:
        times["predict"] = timed(lambda: model.predict(x, batch_size=n, verbose=0))
    if "evaluate" in args.queries:
        times["evaluate"] = timed(lambda: model.evaluate(x, batch_size=n, verbose=0))
    if args.library == "ours":
        if "log_likelihood" in args.queries:
            times["log_likelihood"] = timed(lambda: model.log_likelihood(x))
        if "sample" in args.queries:
            times["sample"] = timed(lambda: model.sample(n, seed=args.seed))
        if "complete" in args.queries:
            times["complete"] = timed(lambda: model.complete(x, evidence_mask=evidence))
        return {key: n / value for key, value in times.items()}
    spnk = import_original()
    if "log_likelihood" in args.queries:  # the root returns log p(x) itself: the original's way is predict
        times["log_likelihood"] = times.get("predict") or timed(lambda: model.predict(x, batch_size=n, verbose=0))
    # With FlatToRegions in front the evidence mask must broadcast against the leaf output [batch, vars, decomps,
    # components], so zero_evidence_inference (a [batch, vars] mask) fails: pass a [batch, vars, 1, 1] mask instead.
    if "sample" in args.queries:
        sampler = original_query_model(args, model, num_vars, spnk.SumOpSampleBackprop())
        nothing = [np.zeros_like(x), np.zeros(x.shape + (1, 1), dtype=bool)]
        times["sample"] = timed(lambda: sampler.predict(nothing, batch_size=n, verbose=0))
    if "complete" in args.queries:
        completer = original_query_model(args, model, num_vars, spnk.SumOpGradBackprop())
        mask = evidence[:, :, None, None]
        times["complete"] = timed(lambda: completer.predict([x, mask], batch_size=n, verbose=0))
    return {key: n / value for key, value in times.items()}


def isolated_step_ms(model, batch, repeats=5):
    """Milliseconds of one call of the training function that ``fit`` made, on ``batch``, outside ``fit``.

    The same compiled step as in ``fit`` (its XLA setting and, for ours, its
    fast-kernel choice), without ``fit``'s data adapter and callbacks. A
    ``tf.function`` of ``model.train_step`` would not be: outside the function
    ``fit`` made, our models' steps trace the exact kernels with their range
    fallback (``math/log_matmul.py``), 3-5x slower for (a).
    """
    function = model.make_train_function()  # the one fit made and kept (both libraries keep it)
    batches = iter(tf.data.Dataset.from_tensors((batch,)).repeat())
    return 1e3 * timed(lambda: tf.nest.map_structure(np.asarray, function(batches)), repeats)


def main(argv=None):
    args = parse_args(argv)
    tf.keras.utils.set_random_seed(args.seed)
    train, test = load(args)
    if args.max_steps:
        train = train[: args.max_steps * args.batch_size]
    num_vars = train.shape[1]
    model = (build_ours if args.library == "ours" else build_original)(args, num_vars)
    timer = EpochTimer()
    if args.epochs:
        model.fit(train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, verbose=0, callbacks=[timer])
    seconds = getattr(timer, "seconds", [])
    steps = math.ceil(len(train) / args.batch_size)
    # Before the isolated steps, which train on the first batch again.
    test_ll = float(np.mean(model.predict(test, batch_size=1000, verbose=0)))
    result = {
        "library": args.library,
        "params": int(model.count_params()),
        "steps_per_epoch": steps,
        "epoch_seconds": seconds,
        "ms_per_step": 1e3 * float(np.median(seconds[1:] if len(seconds) > 1 else seconds)) / steps
        if seconds
        else None,
        # Median over the batches of the epochs after the first (which traces and compiles).
        "fit_step_ms": 1e3 * float(np.median(np.concatenate(timer.step_seconds[1:] or timer.step_seconds)))
        if seconds
        else None,
        "isolated_step_ms": isolated_step_ms(model, tf.constant(train[: args.batch_size])) if args.epochs else None,
        "jit_compile": str(getattr(model, "jit_compile", None)),
        "test_ll": test_ll,
        "samples_per_second": query_timings(args, model, test, num_vars) if args.queries else {},
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
