"""Run by tests/test_same_numbers_060.py under this library and under libspn-keras 0.6.0 (separate Python).

``python em_steps.py {ours,original} SUM_OP`` builds the same small SPN in the library it runs
under, writes the same weights, takes two online-EM steps on fixed data and prints the
normalized weights of every sum layer and the mean log-likelihood as JSON.
"""

import json
import os
import sys

import numpy as np

ORIGINAL = sys.argv[1] == "original"
if ORIGINAL:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # 0.6.0 needs Keras 2 (../shared/ANCHORS.md)
import tensorflow as tf  # noqa: E402

if ORIGINAL:
    tf.keras.optimizers.Optimizer = tf.keras.optimizers.legacy.Optimizer
import libspn_keras as spnk  # noqa: E402

SUM_OPS = {"em": spnk.SumOpEMBackprop, "hard_em": spnk.SumOpHardEMBackprop}


def main():
    spnk.set_default_sum_op(SUM_OPS[sys.argv[2]]())
    rng = np.random.default_rng(0)
    data = rng.integers(0, 2, size=(40, 4)).astype(np.int32)
    data[:, 1] = data[:, 0]
    model = spnk.models.SequentialSumProductNetwork(
        [
            spnk.layers.FlatToRegions(num_decomps=1, input_shape=[4], dtype=tf.int32),
            spnk.layers.IndicatorLeaf(num_components=2),
            spnk.layers.DenseSum(num_sums=2),
            spnk.layers.DenseProduct(num_factors=2),
            spnk.layers.DenseSum(num_sums=2),
            spnk.layers.DenseProduct(num_factors=2),
            spnk.layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    model(data[:1])
    weights = np.random.default_rng(1)
    sums = [layer for layer in model.layers if "sum" in layer.name]
    for layer in sums:
        accumulators = layer.trainable_variables[0]
        value = weights.uniform(0.2, 1.0, size=tuple(accumulators.shape))
        accumulators.assign((value / value.sum(axis=-2, keepdims=True)).astype(np.float32))
    model.compile(
        optimizer=spnk.optimizers.OnlineExpectationMaximization(learning_rate=0.3),
        loss=spnk.losses.NegativeLogLikelihood(),
    )
    model.fit(data, epochs=1, batch_size=20, verbose=0, shuffle=False)
    result = {"log_likelihood": float(np.mean(model.predict(data, verbose=0)))}
    for layer in sums:
        value = layer.trainable_variables[0].numpy().astype(np.float64)
        result[layer.name] = (value / value.sum(axis=-2, keepdims=True)).ravel().tolist()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
