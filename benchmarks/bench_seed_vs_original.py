"""The seed README's DGC-SPN against libspn-keras 0.6.0, as a user writes it, side by side in one run.

Both sides build the README's plain ``keras.Sequential`` and compile it with ``Adam``, cross-entropy
and ``"accuracy"`` and nothing else (``seed_dgc_side.py``), so each library runs on what Keras makes
of a plain model by default: on CPUs, graph mode without XLA. Each side runs in its own process, and
the sides alternate (ours, original, original, ours, ...); the original runs in a separate virtual
environment as for ``bench_vs_original.py`` (skipped when there is none). Images are the first
Fashion-MNIST training images (standardized) when the Debian package ``dataset-fashion-mnist`` is
installed, random ones otherwise. ``--with-spn`` adds our side with the same layers in a
``SequentialSumProductNetwork`` (XLA by default).

Examples:
    python3 benchmarks/bench_seed_vs_original.py --rounds 3 --with-spn
    python3 benchmarks/bench_seed_vs_original.py --quick --original-python /nonexistent  # a smoke test
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np
from bench_vs_original import original_available, run_side, summary

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before the data loader imports TensorFlow


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side")
    parser.add_argument("--steps", type=int, default=60, help="batches of 64 per epoch (two epochs; the second timed)")
    parser.add_argument("--random", action="store_true", help="random images even where Fashion-MNIST is installed")
    parser.add_argument("--with-spn", action="store_true", help="also our layers in a SequentialSumProductNetwork")
    parser.add_argument(
        "--original-python",
        default=os.environ.get(
            "LIBSPN_ORIGINAL_PYTHON", os.path.join(os.path.dirname(__file__), "..", "..", "venv060", "bin", "python")
        ),
        help="Python of a virtual environment with libspn-keras 0.6.0 (env LIBSPN_ORIGINAL_PYTHON)",
    )
    parser.add_argument("--quick", action="store_true", help="3 steps per epoch, one round: a smoke test")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per side and run")
    return parser.parse_args(argv)


def fashion_mnist_file(folder, rows):
    """An .npz of the first ``rows`` Fashion-MNIST training images, standardized, or ``None`` if not installed."""
    from libspn_keras.datasets.fashion_mnist import find_fashion_mnist_dir, load_fashion_mnist

    if find_fashion_mnist_dir() is None:
        return None
    (images, labels), _ = load_fashion_mnist()
    images = images[:rows, :, :, None].astype("float32")
    path = os.path.join(folder, "fashion_mnist.npz")
    np.savez(path, x=(images - images.mean()) / images.std(), y=labels[:rows])
    return path


def main(argv=None):
    args = parse_args(argv)
    skip = original_available(args.original_python)
    if skip:
        print(f"original: skipped ({skip}); only this library runs, no ratios.")
    sides = (
        [("ours", "plain")] + ([("ours", "spn")] if args.with_spn else []) + ([] if skip else [("original", "plain")])
    )
    steps, rounds = (3, 1) if args.quick else (args.steps, args.rounds)
    side_args = ["--steps", str(steps)] + (["--predict-samples", "64"] if args.quick else [])
    runs = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as folder:
        data = None if args.random or args.quick else fashion_mnist_file(folder, steps * 64)
        side_args += ["--data", data] if data else []
        print(f"images: {'Fashion-MNIST' if data else 'random'}, {steps} batches of 64 per epoch")
        for round_index in range(rounds):
            for library, model in sides if round_index % 2 == 0 else sides[::-1]:
                python = args.original_python if library == "original" else sys.executable
                result = run_side(
                    python, library, side_args + ["--model", model], args.timeout, script="seed_dgc_side.py"
                )
                runs[(library, model)].append(result)
                print(f"  ({library}, {model}, round {round_index + 1}) {json.dumps(result)}", flush=True)
    report(runs)


def report(runs):
    print("\n| library | model | compile | params | fit step ms | training samples/s | predict samples/s |")
    print("|---|---|---|---:|---:|---:|---:|")
    for (library, model), group in runs.items():
        print(
            f"| {library} | {'keras.Sequential' if model == 'plain' else 'SequentialSumProductNetwork'} "
            f"| jit_compile={group[0]['jit_compile']} | {group[0]['params']:,} "
            f"| {summary(group, lambda run: run['fit_step_ms']):.1f} "
            f"| {summary(group, lambda run: run['training_samples_per_second']):,.0f} "
            f"| {summary(group, lambda run: run['predict_samples_per_second']):,.0f} |"
        )
    if ("original", "plain") not in runs:
        return
    theirs = runs[("original", "plain")]
    print()
    for side in [side for side in runs if side[0] == "ours"]:
        step = summary(theirs, lambda run: run["fit_step_ms"]) / summary(runs[side], lambda run: run["fit_step_ms"])
        predict = summary(runs[side], lambda run: run["predict_samples_per_second"]) / summary(
            theirs, lambda run: run["predict_samples_per_second"]
        )
        name = "keras.Sequential" if side[1] == "plain" else "SequentialSumProductNetwork"
        print(
            f"seed DGC-SPN, ours as {name}: 0.6.0 fit step / ours = {step:.2f}x, "
            f"predict samples/s ours / 0.6.0 = {predict:.2f}x"
        )


if __name__ == "__main__":
    main()
