"""Peak memory of one training step against batch size (each size in a fresh process).

Example:
    python3 benchmarks/bench_memory.py --model dgc --batch-sizes 16 32 64 128
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
from tensorflow import keras
sys.path.insert(0, {bench_dir!r})
from bench_dgc_fashion_mnist import dgc_spn
from libspn_keras import models
kind, batch, jit = {kind!r}, {batch}, {jit}
if kind == "dgc":
    model = dgc_spn(em=False)
    x = np.random.randn(batch, 28, 28, 1).astype("float32")
else:
    model = models.build_rat_spn(111, 3, 10, 20, 20)
    x = (np.random.rand(batch, 111) < 0.3).astype("int32")
optimizer = keras.optimizers.Adam()

@tf.function(jit_compile=jit)
def step(x):
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(tf.reduce_logsumexp(model(x, training=True), axis=-1))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
    return loss

model(x[:1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
step(tf.constant(x[:2]))  # trace and build the optimizer on a tiny batch
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(3):
    step(tf.constant(x))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"baseline_mib": baseline / 1024, "peak_mib": peak / 1024}}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["dgc", "rat"], default="dgc")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--jit", action="store_true")
    args = parser.parse_args()
    rows = []
    for batch in args.batch_sizes:
        code = CHILD.format(
            bench_dir=os.path.dirname(os.path.abspath(__file__)), kind=args.model, batch=batch, jit=args.jit
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        stats = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append((batch, stats["peak_mib"] - stats["baseline_mib"]))
    print("\n| model | jit | batch | peak MiB above the traced step | MiB per sample |")
    print("|---|---|---:|---:|---:|")
    for batch, extra in rows:
        print(f"| {args.model} | {args.jit} | {batch} | {extra:.0f} | {extra / batch:.2f} |")


if __name__ == "__main__":
    main()
