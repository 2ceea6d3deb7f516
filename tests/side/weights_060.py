"""0.6.0's weight files, loaded by this library (tests/test_weight_files_060.py).

``python weights_060.py original FOLDER`` (under libspn-keras 0.6.0, see ../shared/ANCHORS.md) builds every case
below, gives its variables values (filled, or trained by 0.6.0's online EM), and writes to FOLDER, per case, the
Keras 2 HDF5 file ``CASE.h5`` and the TensorFlow checkpoint ``CASE_ckpt.*`` that 0.6.0's ``save_weights`` writes,
and one ``predictions.json`` with the inputs and 0.6.0's ``predict`` of each case. ``tests/data/weights_060/``
holds that output, so the test runs without 0.6.0. Imported (not run), it builds the same models in this library.
"""

import json
import os
import sys

import numpy as np

ORIGINAL = __name__ == "__main__" and sys.argv[1] == "original"
if ORIGINAL:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # 0.6.0 needs Keras 2 (../shared/ANCHORS.md)
import tensorflow as tf  # noqa: E402

if ORIGINAL:
    tf.keras.optimizers.Optimizer = tf.keras.optimizers.legacy.Optimizer
import libspn_keras as spnk  # noqa: E402
from libspn_keras import layers  # noqa: E402

IMAGE = (8, 8, 1)
NUM_VARS = 7


def rat_layers(leaf, permute, dtype, normalize=False):
    """A RAT-SPN-like region stack over 7 variables, 2 decompositions padded to 8 scopes."""
    first = (
        [layers.NormalizeStandardScore(axes=layers.NormalizeAxes.GLOBAL, input_shape=[NUM_VARS])] if normalize else []
    )
    return first + [
        layers.FlatToRegions(num_decomps=2, dtype=dtype, **({} if normalize else dict(input_shape=[NUM_VARS]))),
        leaf,
        layers.DenseSum(num_sums=3),
        permute,
        layers.ReduceProduct(num_factors=2),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=3),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=2),
        layers.Undecompose(),
        layers.RootSum(return_weighted_child_logits=False),
    ]


def dgc_layers(leaf, logspace):
    """A DGC-SPN on 8 x 8 images: an all-combination product, then depthwise ones, each sum kind once."""
    kwargs = dict(logspace_accumulators=logspace)
    return [
        layers.NormalizeStandardScore(input_shape=IMAGE),
        leaf,
        layers.Conv2DProduct(depthwise=False, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2]),  # 4x4x16
        layers.Local2DSum(num_sums=3, **kwargs),
        layers.Conv2DProduct(depthwise=True, strides=[1, 1], dilations=[1, 1], kernel_size=[2, 2], padding="full"),
        layers.Conv2DSum(num_sums=3, **kwargs),  # 5 x 5
        layers.Conv2DProduct(depthwise=True, strides=[1, 1], dilations=[2, 2], kernel_size=[2, 2], padding="full"),
        layers.Local2DSum(num_sums=3, **kwargs),  # 7 x 7
        layers.Conv2DProduct(depthwise=True, strides=[1, 1], dilations=[4, 4], kernel_size=[2, 2], padding="final"),
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=2, **kwargs),
        layers.RootSum(return_weighted_child_logits=True, **kwargs),
    ]


def nested_layers():
    """A ``keras.Sequential`` nested in the model, holding an adapted normalization (whose variables Keras 2 saved
    without the layer's name) and a frozen sum (whose variables Keras 2 saved after the trainable ones)."""
    normalize = layers.NormalizeStandardScore(axes=layers.NormalizeAxes.GLOBAL, input_shape=[NUM_VARS])
    normalize.adapt(tf.data.Dataset.from_tensor_slices(inputs("nested")).batch(3))
    inner = tf.keras.Sequential(
        [
            normalize,
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2),
            layers.DenseSum(num_sums=3, trainable=False),
            layers.PermuteAndPadScopes([[3, 0, 6, -1, 1, 5, 2, 4]]),
            layers.ReduceProduct(num_factors=2),
            layers.DenseSum(num_sums=2),
        ]
    )
    return [
        inner,
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=2),
        layers.DenseProduct(num_factors=2),
        layers.RootSum(return_weighted_child_logits=False),
    ]


def fixed_permutations():
    return layers.PermuteAndPadScopes([[3, 0, 6, -1, 1, 5, 2, 4], [-1, 5, 4, 1, 0, 2, 6, 3]])


# name: (sum op, layers, integer inputs, trained by 0.6.0's online EM rather than filled)
CASES = {
    "rat_indicator": (
        "grad",
        lambda: rat_layers(layers.IndicatorLeaf(num_components=2), fixed_permutations(), tf.int32),
        True,
        False,
    ),
    "rat_em_leaves_trained": (
        "em",
        lambda: rat_layers(
            layers.NormalLeaf(num_components=2, use_accumulators=True, scale_trainable=True),
            layers.PermuteAndPadScopesRandom(),
            tf.float32,
            normalize=True,
        ),
        False,
        True,
    ),
    "rat_em_fixed_scale_trained": (
        "hard_em",
        lambda: rat_layers(
            layers.NormalLeaf(num_components=2, use_accumulators=True), layers.PermuteAndPadScopesRandom(), tf.float32
        ),
        False,
        True,
    ),
    "nested": ("grad", nested_layers, False, False),
    "dgc_trainable_scale": (
        "grad",
        lambda: dgc_layers(layers.NormalLeaf(num_components=2, scale_trainable=True), True),
        False,
        False,
    ),
    "dgc_cauchy_linear": ("grad", lambda: dgc_layers(layers.CauchyLeaf(num_components=2), False), False, False),
}
DYNAMIC = "dynamic_trained"  # 0.6.0's dynamic SPN of four networks, trained by 0.6.0's online EM on sequences
NUM_STEPS = 4


def dynamic_model(sum_op="em"):
    """0.6.0's form ``DynamicSumProductNetwork(template, interface_t0, interface_t_minus_1, top)`` on 2 variables,
    every sum with its own ``sum_op`` (the global default is left alone), built on one batch."""
    keras = tf.keras
    ops = dict(sum_op=SUM_OPS[sum_op]())
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[2], dtype=tf.int32),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=3, **ops),
            layers.ReduceProduct(num_factors=2),
        ]
    )
    t0 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 3], **ops)])
    t_minus_1 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 4], **ops)])
    top = keras.Sequential([layers.RootSum(return_weighted_child_logits=False, input_shape=[1, 1, 4], **ops)])
    model = spnk.models.DynamicSumProductNetwork(template, t0, t_minus_1, top)
    x, lengths = dynamic_inputs()
    model([x[:1], lengths[:1]])
    return model


def dynamic_inputs():
    rng = np.random.default_rng(12)
    x = rng.integers(0, 2, size=(8, NUM_STEPS, 2)).astype(np.int32)
    lengths = np.array([1, 2, 3, 4, 4, 2, 3, 4], dtype=np.int32)
    x[np.arange(NUM_STEPS)[None, :] < (NUM_STEPS - lengths)[:, None]] = 0  # left-padded, as 0.6.0 expects
    return x, lengths


SUM_OPS = {"grad": spnk.SumOpGradBackprop, "em": spnk.SumOpEMBackprop, "hard_em": spnk.SumOpHardEMBackprop}


def inputs(name):
    rng = np.random.default_rng(11)
    if name.startswith("dgc"):
        return rng.normal(size=(6, *IMAGE)).astype(np.float32)
    if CASES[name][2]:
        return rng.integers(0, 2, size=(6, NUM_VARS)).astype(np.int32)
    return (rng.normal(size=(6, NUM_VARS)) * 2.0 + 1.0).astype(np.float32)


def build(name, stack=None):
    """The case's model (or one of ``stack`` on its inputs), built on one batch, under the case's sum op."""
    spnk.set_default_sum_op(SUM_OPS[CASES[name][0]]())
    stack = CASES[name][1]() if stack is None else stack
    x = inputs(name)
    for layer in stack:
        if isinstance(layer, layers.NormalizeStandardScore) and layer.axes == layers.NormalizeAxes.GLOBAL:
            layer.adapt(tf.data.Dataset.from_tensor_slices(x).batch(3))  # before 0.6.0's Sequential calls it
    model = spnk.models.SequentialSumProductNetwork(stack)
    model(x[:1])
    return model


def flat_layers(model):
    """The layers of ``model``, those of nested networks in their place."""
    for layer in model.layers:
        yield from flat_layers(layer) if hasattr(layer, "layers") else [layer]


def fill(model):
    """0.6.0 side: values that differ per variable and entry, valid for each role."""
    for i, layer in enumerate(flat_layers(model)):
        for j, variable in enumerate(layer.weights):
            name = variable.name.split("/")[-1].split(":")[0]
            rng = np.random.default_rng([i, j])
            shape = tuple(int(d) for d in variable.shape)
            if name == "sum_weights":
                weights = rng.uniform(0.2, 1.0, size=shape)
                weights /= weights.sum(axis=-2, keepdims=True)
                value = np.log(weights) if layer.logspace_accumulators else weights
            elif name == "location":
                value = rng.normal(size=shape)
            elif name == "scale":  # softplus^-1 of the scale where 0.6.0 trains it, the scale otherwise
                value = rng.uniform(0.5, 1.5, size=shape)
            else:
                continue
            variable.assign(value.astype(np.float32))


def main(folder):
    os.makedirs(folder, exist_ok=True)
    predictions = {}
    for name, (_, _, _, trained) in CASES.items():
        model = build(name)
        x = inputs(name)
        if trained:
            model.compile(
                optimizer=spnk.optimizers.OnlineExpectationMaximization(0.3), loss=spnk.losses.NegativeLogLikelihood()
            )
            model.fit(x, epochs=3, batch_size=3, verbose=0)
        else:
            fill(model)
        predictions[name] = {"x": x.tolist(), "predict": model.predict(x, verbose=0).tolist()}
        model.save_weights(os.path.join(folder, f"{name}.h5"))
        model.save_weights(os.path.join(folder, f"{name}_ckpt"))
    model = dynamic_model()
    x, lengths = dynamic_inputs()
    model.compile(
        optimizer=spnk.optimizers.OnlineExpectationMaximization(0.3), loss=spnk.losses.NegativeLogLikelihood()
    )
    model.fit(x, lengths, epochs=3, batch_size=4, verbose=0)  # 0.6.0 takes the lengths in place of labels
    predictions[DYNAMIC] = {
        "x": x.tolist(),
        "lengths": lengths.tolist(),
        "predict": model([x, lengths]).numpy().tolist(),
    }
    model.save_weights(os.path.join(folder, f"{DYNAMIC}.h5"))
    model.save_weights(os.path.join(folder, f"{DYNAMIC}_ckpt"))
    os.remove(os.path.join(folder, "checkpoint"))  # Keras 2's index of the latest checkpoint; not read
    with open(os.path.join(folder, "predictions.json"), "w") as file:
        json.dump(predictions, file)


if __name__ == "__main__":
    main(sys.argv[2])
