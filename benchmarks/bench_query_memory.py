"""Peak memory per image and speed of sampling and completion on convolutional SPNs.

Each measurement runs in a fresh process: the model is built, one small query
warms it up, and the peak resident memory of the query on ``n`` images above
that baseline, divided by ``n``, is reported with the images per second.
Networks:

- ``seed``: the DGC-SPN of the README (28x28x1, 16 Normal components, ten
  class roots, 1.2M parameters);
- ``wide``: the sampling tutorial's network of libspn-keras 0.6.0 (a one-hot
  first product over 4 Normal components, ``Local2DSum`` of 256, 512, 512 and
  1024 sums, one root; 25.6M parameters).

Example:
    python3 benchmarks/bench_query_memory.py --model seed --queries sample mpe --num-images 1000
    python3 benchmarks/bench_query_memory.py --quick
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
sys.path.insert(0, {bench_dir!r})
from bench_query_memory import build_model
kind, query, n = {kind!r}, {query!r}, {n}
model = build_model(kind)
x = np.random.default_rng(0).normal(size=(n, 28, 28, 1)).astype("float32")
x[:, 14:] = np.nan  # completions fill the bottom half


def run(count):
    if query == "sample":
        return model.sample(count, seed=1)
    method = {{"complete": "sample", "mpe": "mpe", "marginal": "posterior_marginal"}}[query]
    return model.complete(x[:count], method=method, seed=1)


run(2)
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
out = run(n)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert out.shape == (n, 28, 28, 1) and np.all(np.isfinite(out))
print(json.dumps({{"baseline_mib": baseline / 1024, "peak_mib": peak / 1024, "seconds": seconds}}))
"""


def build_model(kind):
    """The ``seed`` or ``wide`` network (see the module docstring) as a ``SequentialSumProductNetwork``."""
    from tensorflow import keras

    from libspn_keras import layers, models

    def product(strides, dilations, padding, depthwise=True):
        return layers.Conv2DProduct(
            depthwise=depthwise, strides=strides, dilations=dilations, kernel_size=[2, 2], padding=padding
        )

    keras.utils.set_random_seed(0)
    leaf_kwargs = dict(location_initializer=keras.initializers.TruncatedNormal(stddev=1.0))
    if kind == "seed":
        from seed_dgc_side import seed_layers

        stack = seed_layers(layers, keras, input_shape=None)
    else:
        stack = [
            layers.NormalLeaf(num_components=4, **leaf_kwargs),
            product([2, 2], [1, 1], "valid", depthwise=False),  # 28 -> 14, 4 ** 4 = 256 channels
            layers.Local2DSum(num_sums=256),
            product([2, 2], [1, 1], "valid"),  # 14 -> 7
            layers.Local2DSum(num_sums=512),
            product([2, 2], [1, 1], "full"),  # 7 -> 4
            layers.Local2DSum(num_sums=512),
            product([2, 2], [1, 1], "valid"),  # 4 -> 2
            layers.Local2DSum(num_sums=1024),
            product([2, 2], [1, 1], "valid"),  # 2 -> 1
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    return models.SequentialSumProductNetwork([keras.Input(shape=(28, 28, 1)), *stack])


def measure(kind, query, num_images):
    """``(MiB per image above the warmed-up model, images per second)`` in a fresh process."""
    code = CHILD.format(bench_dir=os.path.dirname(os.path.abspath(__file__)), kind=kind, query=query, n=num_images)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{kind}/{query}/{num_images} failed:\n{result.stderr[-3000:]}")
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    return (stats["peak_mib"] - stats["baseline_mib"]) / num_images, num_images / stats["seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", choices=["seed", "wide"], default=["seed", "wide"])
    parser.add_argument("--queries", nargs="+", choices=["sample", "complete", "mpe", "marginal"], default=["sample"])
    parser.add_argument("--num-images", type=int, nargs="+", default=None, help="default: 1000 (seed), 50 (wide)")
    parser.add_argument("--quick", action="store_true", help="the seed network, 8 images (a smoke test)")
    args = parser.parse_args(argv)
    models = ["seed"] if args.quick else args.model
    print("| network | query | images | MiB per image | images/s |")
    print("|---|---|---:|---:|---:|")
    for kind in models:
        counts = [8] if args.quick else (args.num_images or [1000 if kind == "seed" else 50])
        for query in args.queries:
            for count in counts:
                per_image, rate = measure(kind, query, count)
                print(f"| {kind} | {query} | {count} | {per_image:.2f} | {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
