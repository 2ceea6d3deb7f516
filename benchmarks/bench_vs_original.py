"""This library against libspn-keras 0.6.0 on the same RAT-SPNs, side by side in one run, default compile/fit.

Each side runs in its own process (``rat_spn_side.py``): ours in this Python, the original in a
separate virtual environment with libspn-keras 0.6.0 on legacy Keras (TensorFlow 2.21,
``tf-keras``; see ``../shared/ANCHORS.md``). The two alternate (ours, original, original, ours,
...) so that load from other processes hits both alike. Without that environment only our
side runs and the ratios are skipped.

Examples:
    python3 benchmarks/bench_vs_original.py                       # RAT-SPN (a), 3 epochs, queries
    python3 benchmarks/bench_vs_original.py --config b --epochs 2 --queries predict
    python3 benchmarks/bench_vs_original.py --original-python /path/to/venv060/bin/python
    python3 benchmarks/bench_vs_original.py --quick               # tiny random data: a smoke test
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "a": ["--depth", "3", "--repetitions", "10", "--input-distributions", "20", "--sums", "20"],
    "b": ["--depth", "5", "--repetitions", "32", "--input-distributions", "32", "--sums", "32"],
}
# EinsumNetworks (PyTorch, CPU) s/epoch on accidents, measured beside 0.6.0 on a 2-core machine
# (../shared/ANCHORS.md); the faster end of each range.
EINSUM_S_PER_EPOCH = {"a": 7.1, "b": 512.0}
QUERIES = ("predict", "evaluate", "log_likelihood", "sample", "complete")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=["a", "b", "both"], default="a")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each side per configuration")
    parser.add_argument("--max-steps", type=int, default=0, help="batches per epoch (0: the whole training set)")
    parser.add_argument("--queries", nargs="*", choices=QUERIES, default=None, help="default: all for (a), none (b)")
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "debd"))
    parser.add_argument(
        "--original-python",
        default=os.environ.get("LIBSPN_ORIGINAL_PYTHON", str(HERE.parent.parent / "venv060" / "bin" / "python")),
        help="Python of a virtual environment with libspn-keras 0.6.0 (env LIBSPN_ORIGINAL_PYTHON)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also run our side from another tree (PATH holds its libspn_keras), e.g. a patched copy; repeatable",
    )
    parser.add_argument("--quick", action="store_true", help="tiny model on random data, 2 epochs of 3 steps")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per side and run")
    return parser.parse_args()


def original_available(python):
    """``None`` when ``python`` imports libspn-keras 0.6.0 on legacy Keras, else why not."""
    if not python or not Path(python).exists():
        return f"no Python at {python!r}"
    probe = "import importlib.metadata as m; print(m.version('libspn-keras'))"
    # -I: neither the current folder (this checkout's metadata) nor PYTHONPATH may answer for the other environment.
    result = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, timeout=120)
    version = result.stdout.strip()
    if result.returncode != 0 or not version.startswith("0.6"):
        return f"{python} does not provide libspn-keras 0.6.x ({version or result.stderr.strip()[-200:]})"
    return None


def run_side(python, library, side_args, timeout, tree=None, script="rat_spn_side.py"):
    """The ``RESULT`` JSON line of one side's process (``script`` in this folder, ``--library library``)."""
    command = [python, str(HERE / script), "--library", library, *side_args]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if library == "ours":  # this checkout (or a variant's tree), whether or not it is installed
        tree = str(tree or HERE.parent)
        env["PYTHONPATH"] = os.pathsep.join([tree] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    else:  # nothing of this checkout in the original's environment
        env.pop("PYTHONPATH", None)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def seconds_per_epoch(run, full_steps):
    """Median seconds of the epochs after the first (which traces and compiles), scaled to a full epoch."""
    return run["ms_per_step"] * full_steps / 1e3 if run["ms_per_step"] is not None else float("nan")


def summary(runs, key, reduce=np.median):
    values = [value for value in (key(run) for run in runs) if value is not None]
    return float(reduce(values)) if values else float("nan")


def main():
    args = parse_args()
    skip = original_available(args.original_python)
    if skip:
        print(f"original: skipped ({skip}); only this library runs, no ratios.")
    variants = dict(item.split("=", 1) for item in args.variant)
    libraries = ["ours", *variants] + ([] if skip else ["original"])
    configs = ["a", "b"] if args.config == "both" else [args.config]
    rows = []
    for config in configs:
        queries = args.queries if args.queries is not None else (list(QUERIES) if config == "a" else [])
        side_args = ["--epochs", str(args.epochs), "--data", args.data, "--queries", *queries]
        side_args += CONFIGS[config] if not args.quick else ["--depth", "2", "--repetitions", "2"]
        if args.quick:
            side_args += ["--input-distributions", "3", "--sums", "3", "--random-data", "300", "--query-samples", "50"]
            side_args += ["--epochs", "2", "--max-steps", "3"]
        elif args.max_steps:
            side_args += ["--max-steps", str(args.max_steps)]
        runs = {library: [] for library in libraries}
        for round_index in range(args.rounds):
            order = libraries if round_index % 2 == 0 else libraries[::-1]
            for library in order:
                python = args.original_python if library == "original" else sys.executable
                side = "original" if library == "original" else "ours"
                runs[library].append(run_side(python, side, side_args, args.timeout, variants.get(library)))
                print(f"  ({config}, {library}, round {round_index + 1}) {json.dumps(runs[library][-1])}", flush=True)
        rows.append((config, runs))
    report(rows, libraries, args)


def ratio_lines(config, name, runs, steps, quick):
    """The ratios of one of our sides (``name``) to 0.6.0 and to EinsumNetworks' figures."""
    lines = []
    ours = summary(runs[name], lambda run: seconds_per_epoch(run, steps))
    if "original" in runs:
        theirs = summary(runs["original"], lambda run: seconds_per_epoch(run, steps))
        query_ratios = []
        for q in QUERIES:
            mine = summary(runs[name], lambda run, q=q: run["samples_per_second"].get(q))
            old = summary(runs["original"], lambda run, q=q: run["samples_per_second"].get(q))
            if not np.isnan(mine) and not np.isnan(old):
                query_ratios.append(f"{q} {mine / old:.2f}x")
        lines.append(f"({config}) training: 0.6.0 s/epoch / {name} = {theirs / ours:.2f}x")
        step_theirs, step_ours = (summary(runs[key], lambda run: run.get("fit_step_ms")) for key in ("original", name))
        lines.append(
            f"({config}) training step inside fit (batch begin -> end, median): 0.6.0 {step_theirs:.1f} ms / "
            f"{name} {step_ours:.1f} ms = {step_theirs / step_ours:.2f}x"
        )
        if query_ratios:
            lines.append(f"({config}) queries, {name} samples/s / 0.6.0: " + ", ".join(query_ratios))
    if not quick:
        lines.append(
            f"({config}) EinsumNetworks CPU {EINSUM_S_PER_EPOCH[config]:.1f} s/epoch (ANCHORS.md) / {name} "
            f"= {EINSUM_S_PER_EPOCH[config] / ours:.1f}x"
        )
    return lines


def report(rows, libraries, args):
    full_steps = {"a": 128, "b": 128}  # accidents: 12,758 training rows, batch 100
    print("\n| config | library | params | s/epoch | ms/step | fit step ms | test LL | " + " | ".join(QUERIES) + " |")
    print("|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(QUERIES))
    ratios = []
    for config, runs in rows:
        steps = runs["ours"][0]["steps_per_epoch"] if args.quick else full_steps[config]
        for library in libraries:
            group = runs[library]
            epoch = summary(group, lambda run, steps=steps: seconds_per_epoch(run, steps))
            rates = [summary(group, lambda run, q=q: run["samples_per_second"].get(q)) for q in QUERIES]
            print(
                f"| {config} | {library} | {group[0]['params']:,} | {epoch:.2f} | {epoch * 1e3 / steps:.1f} "
                f"| {summary(group, lambda run: run.get('fit_step_ms')):.1f} "
                f"| {summary(group, lambda run: run['test_ll']):.3f} | "
                + " | ".join("—" if np.isnan(rate) else f"{rate:,.0f}" for rate in rates)
                + " |"
            )
        for name in [library for library in libraries if library != "original"]:
            ratios += ratio_lines(config, name, runs, steps, args.quick)
    print()
    for line in ratios:
        print(line)


if __name__ == "__main__":
    main()
