"""Random structures drawn from NumPy's global state, run under 0.6.0 (``original``) and this library (``ours``).

Seeds NumPy once, then draws channel subsets of three ``Conv2DProduct`` layers (more outputs than input
channels, fewer, and more than all combinations) and the permutations of three ``PermuteAndPadScopesRandom``
layers one after the other, and prints every output and stored permutation as JSON.
"""

import json
import os
import sys

if sys.argv[1] == "original":
    os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from libspn_keras import layers  # noqa: E402

PRODUCTS = [
    ("more_outputs_than_channels", 6, 3),
    ("fewer_outputs_than_channels", 2, 5),
    ("more_than_all_combinations", 100, 2),
]
PERMUTATIONS = [([2, 2, 2], 8), ([4, 2], 5), ([2, 2, 2, 2], 11)]


def main():
    result = {}
    np.random.seed(7)
    for name, num_channels, channels in PRODUCTS:
        layer = layers.Conv2DProduct(
            strides=[2, 2],
            dilations=[1, 1],
            kernel_size=[2, 2],
            padding="valid",
            depthwise=False,
            num_channels=num_channels,
        )
        x = np.random.RandomState(1).normal(size=(1, 4, 4, channels)).astype("float32")
        result[name] = np.asarray(layer(tf.constant(x))).ravel().tolist()
        result[f"{name}/num_channels"] = int(layer.num_channels)
    for factors, scopes in PERMUTATIONS:
        layer = layers.PermuteAndPadScopesRandom(factors=factors)
        x = np.random.RandomState(2).normal(size=(2, scopes, 3, 2)).astype("float32")
        result[f"permuted_{scopes}"] = np.asarray(layer(tf.constant(x))).ravel().tolist()
        result[f"permutations_{scopes}"] = np.asarray(layer.permutations).ravel().tolist()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
