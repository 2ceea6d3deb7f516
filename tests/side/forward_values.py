"""Run by tests/test_same_numbers_060.py under this library and under libspn-keras 0.6.0 (separate Python).

``python forward_values.py {ours,original}`` builds every case below in the library it runs under,
writes the same deterministic values into every variable (chosen by layer position, variable
position and the variable's role, so a layer whose variables come in another order or size
shows up as a mismatch), and prints one JSON object::

    {case: {"variables": [[layer, name, size, trainable], ...], key: nested list, ...}}

Keys: ``layer_<i>`` (the output of every layer on fixed inputs), ``model`` (the model's
output), ``masked`` (0.6.0's marginalization: the layers run with the leaf output set to 0
where the evidence mask is False, as its ``infer_no_evidence`` models do), ``complete``/
``complete_argmax`` (``predict([x, evidence_mask])`` of ``infer_no_evidence=True`` models
with ``infer_weighted_sum`` True/False), ``zero_evidence`` (``zero_evidence_inference``),
``kernel_<i>`` (fixed product kernels). Keys starting with ``api_`` are this library's own
queries (NaN/-1 marks, ``log_likelihood``), written only under ``ours`` and compared with the
original's ``masked``. A step that raises is written as ``{"error": message}``.
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
from libspn_keras import layers  # noqa: E402

SUM_OPS = {"grad": spnk.SumOpGradBackprop, "em": spnk.SumOpEMBackprop, "hard_em": spnk.SumOpHardEMBackprop}
IMAGE = (8, 8, 1)
NUM_VARS = 7
# Two decompositions of 7 scopes padded to 8 (-1: a padding scope), fixed so both libraries agree.
PERMUTATIONS = [[3, 0, 6, -1, 1, 5, 2, 4], [-1, 5, 4, 1, 0, 2, 6, 3]]


def depthwise(strides, dilations, padding):
    return layers.Conv2DProduct(
        depthwise=True, strides=[strides] * 2, dilations=[dilations] * 2, kernel_size=[2, 2], padding=padding
    )


def all_combinations(strides):
    """A non-depthwise product over every channel combination (``num_channels=None``: channels ** 4)."""
    return layers.Conv2DProduct(depthwise=False, strides=[strides] * 2, dilations=[1, 1], kernel_size=[2, 2])


def dgc_layers(leaf, spatial_sum, logspace, weighted_child_logits, normalize=False):
    """The seed README's DGC-SPN on an 8 x 8 image: valid, full (dilation 1, 2) and final (dilation 4) products."""
    kwargs = dict(logspace_accumulators=logspace)
    first = [layers.NormalizeStandardScore(input_shape=IMAGE)] if normalize else []
    leaf_kwargs = {} if normalize else dict(input_shape=IMAGE)
    return first + [
        leaf(num_components=4, **leaf_kwargs),
        depthwise(2, 1, "valid"),  # 4 x 4
        spatial_sum(num_sums=4, **kwargs),
        depthwise(1, 1, "full"),  # 5 x 5
        spatial_sum(num_sums=4, **kwargs),
        depthwise(1, 2, "full"),  # 7 x 7
        spatial_sum(num_sums=4, **kwargs),
        depthwise(1, 4, "final"),  # 4 x 4, every cell covering the whole image
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=3, **kwargs),
        layers.RootSum(return_weighted_child_logits=weighted_child_logits, **kwargs),
    ]


def all_combination_layers(logspace):
    """Non-depthwise products (2 channels -> 16 combinations), Local2DSum, a sample-wise normalization in front."""
    kwargs = dict(logspace_accumulators=logspace)
    return [
        layers.NormalizeStandardScore(input_shape=IMAGE),
        layers.NormalLeaf(num_components=2),
        all_combinations(2),  # 4 x 4 x 16
        layers.Local2DSum(num_sums=2, **kwargs),
        all_combinations(2),  # 2 x 2 x 16
        layers.Conv2DSum(num_sums=2, **kwargs),
        all_combinations(1),  # 1 x 1 x 16
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=2, **kwargs),
        layers.RootSum(return_weighted_child_logits=False, **kwargs),
    ]


def rat_layers(leaf, logspace, weighted_child_logits, dtype):
    """A RAT-SPN-like region stack: 7 variables, 2 decompositions, a fixed permutation padded to 8 scopes."""
    kwargs = dict(logspace_accumulators=logspace)
    return [
        layers.FlatToRegions(num_decomps=2, input_shape=[NUM_VARS], dtype=dtype),
        leaf(num_components=2) if leaf is layers.IndicatorLeaf else leaf(num_components=3),
        layers.DenseSum(num_sums=3, **kwargs),
        layers.PermuteAndPadScopes(PERMUTATIONS),
        layers.ReduceProduct(num_factors=2),  # 4 scopes
        layers.DenseProduct(num_factors=2),  # 2 scopes x 9
        layers.LogDropout(rate=0.3),  # identity at inference
        layers.DenseSum(num_sums=3, **kwargs),
        layers.DenseProduct(num_factors=2),  # 1 scope x 9
        layers.DenseSum(num_sums=2, **kwargs),
        layers.Undecompose(),  # 1 scope, 1 decomposition, 4 nodes (see undecompose() for num_decomps)
        layers.RootSum(return_weighted_child_logits=weighted_child_logits, **kwargs),
    ]


def image_inputs():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, *IMAGE)).astype(np.float32)
    mask = np.ones(x.shape, dtype=bool)
    mask[0, 4:] = False  # bottom half of the first image
    mask[1, :, :3] = False  # left columns of the second
    mask[2] = rng.uniform(size=IMAGE) < 0.6  # scattered pixels of the third; the fourth is complete
    mask[2, 0, 0] = (~mask[2].ravel()[1:]).sum() % 2 == 0  # an even number hidden (see stats_preserving)
    return x, mask


def stats_preserving(x, mask):
    """``x`` with its hidden entries set to mean +- stddev of the observed ones, alternately, per sample.

    Then the statistics of a whole sample are those of its observed entries, whichever a sample-wise
    normalization reads: 0.6.0 reads every entry (hidden ones too), this library the observed ones only.
    """
    x = x.copy()
    for row, observed in zip(x, mask):
        hidden = np.flatnonzero(~observed.ravel())
        values = row.ravel()[observed.ravel()]
        signs = np.where(np.arange(hidden.size) % 2 == 0, 1.0, -1.0)
        row.reshape(-1)[hidden] = values.mean() + values.std() * signs
    return x


def flat_inputs(integer):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 2, size=(5, NUM_VARS)).astype(np.int32) if integer else rng.normal(size=(5, NUM_VARS))
    mask = rng.uniform(size=x.shape) < 0.6
    mask[0] = False  # nothing observed
    mask[1] = True  # everything observed
    return x.astype(np.int32 if integer else np.float32), mask


# name: (sum op, layer factory, inputs, whether the leaf sees [batch, vars, decomps, ...] regions)
CASES = {
    "dgc_normal_local2d": ("grad", lambda: dgc_layers(layers.NormalLeaf, layers.Local2DSum, True, True), image_inputs),
    "dgc_normal_root_sum": (
        "grad",
        lambda: dgc_layers(layers.NormalLeaf, layers.Local2DSum, True, False),
        image_inputs,
    ),
    "dgc_cauchy_conv2d": ("grad", lambda: dgc_layers(layers.CauchyLeaf, layers.Conv2DSum, True, True), image_inputs),
    "dgc_laplace_hard_em": (
        "hard_em",
        lambda: dgc_layers(layers.LaplaceLeaf, layers.Local2DSum, False, True),
        image_inputs,
    ),
    "dgc_normal_em_normalized": (
        "em",
        lambda: dgc_layers(layers.NormalLeaf, layers.Conv2DSum, False, False, normalize=True),
        image_inputs,
    ),
    "dgc_all_combinations": ("grad", lambda: all_combination_layers(True), image_inputs),
    "rat_indicator": (
        "grad",
        lambda: rat_layers(layers.IndicatorLeaf, True, False, tf.int32),
        lambda: flat_inputs(True),
    ),
    "rat_indicator_hard_em": (
        "hard_em",
        lambda: rat_layers(layers.IndicatorLeaf, False, True, tf.int32),
        lambda: flat_inputs(True),
    ),
    "rat_normal_em": ("em", lambda: rat_layers(layers.NormalLeaf, False, True, tf.float32), lambda: flat_inputs(False)),
}


def original_combinations(kernel_shape):
    """0.6.0's all-combination kernel ``[rows, cols, in, out]``: cell ``k`` (row-major) takes digit ``k`` of the
    output channel, the first cell's digit least significant."""
    rows, cols, channels, out = kernel_shape
    cells = (np.arange(out)[None, :] // channels ** np.arange(rows * cols)[:, None]) % channels
    one_hot = np.eye(channels)[cells.reshape(rows, cols, out)]  # [rows, cols, out, in]
    return np.transpose(one_hot, (0, 1, 3, 2))


def short_name(variable):
    return variable.name.split("/")[-1].split(":")[0]


def fill_variables(model):
    """Same values on both sides by (layer index, variable index, role); fixed kernels/permutations are left alone."""
    listing = []
    for i, layer in enumerate(model.layers):
        for j, variable in enumerate(layer.weights):
            name = short_name(variable)
            shape = tuple(int(d) for d in variable.shape)
            size = int(np.prod(shape))
            listing.append([i, type(layer).__name__, name, size, bool(variable.trainable)])
            rng = np.random.default_rng([i, j])
            if name in ("sum_weights", "accumulators"):
                weights = rng.uniform(0.2, 1.0, size=(size // (shape[-2] * shape[-1]), *shape[-2:]))
                weights /= weights.sum(axis=-2, keepdims=True)
                value = np.log(weights) if layer.logspace_accumulators else weights
            elif name == "location":
                value = rng.normal(size=size)
            elif name == "scale":
                value = rng.uniform(0.5, 1.5, size=size)
            else:
                continue
            variable.assign(np.reshape(value, shape).astype(np.float32))
    return listing


def leaf_index(model):
    return next(i for i, layer in enumerate(model.layers) if isinstance(layer, layers.BaseLeaf))


def masked_forward(model, x, leaf_mask):
    """The layers one by one, the leaf output set to 0 (log 1) where ``leaf_mask`` is False; every output."""
    outputs, h = [], tf.convert_to_tensor(x)
    for i, layer in enumerate(model.layers):
        h = layer(h)
        if i == leaf_index(model):
            h = tf.where(leaf_mask, h, tf.zeros_like(h))
        outputs.append(np.asarray(h, dtype=np.float64))
    return outputs


def attempt(result, key, function):
    try:
        result[key] = np.asarray(function(), dtype=np.float64).tolist()
    except Exception as error:  # noqa: BLE001 -- a query that fails under one library is itself a finding
        result[key] = {"error": f"{type(error).__name__}: {str(error)[-300:]}"}


def evidence_model(stack, weighted):
    model = spnk.models.SequentialSumProductNetwork(stack, infer_no_evidence=True, infer_weighted_sum=weighted)
    if ORIGINAL:
        model.input_spec = None  # 0.6.0 on tf_keras checks the first input only otherwise (ANCHORS.md)
    return model


def run_case(name):
    sum_op, make_layers, make_inputs = CASES[name]
    spnk.set_default_sum_op(SUM_OPS[sum_op]())
    stack = make_layers()
    x, mask = make_inputs()
    model = spnk.models.SequentialSumProductNetwork(stack)
    model(x[:1])
    result = {"variables": fill_variables(model)}
    for i, layer in enumerate(model.layers):
        for variable in layer.weights:
            if short_name(variable) in ("onehot_kernel", "kernel"):
                result[f"kernel_{i}"] = np.asarray(variable).ravel().tolist()
    is_region = x.ndim == 2
    # The leaf output is [batch, vars, decomps, components] for regions, [batch, rows, columns, components] for images.
    leaf_mask = mask[:, :, np.newaxis, np.newaxis] if is_region else mask
    full = masked_forward(model, x, np.ones_like(leaf_mask))
    for i, value in enumerate(full):
        result[f"layer_{i}"] = value.tolist()
    attempt(result, "model", lambda: model.predict(x, verbose=0))
    result["masked"] = masked_forward(model, x, leaf_mask)[-1].tolist()
    predict_mask = mask
    attempt(result, "complete", lambda: evidence_model(stack, True).predict([x, predict_mask], verbose=0))
    attempt(result, "complete_argmax", lambda: evidence_model(stack, False).predict([x, predict_mask], verbose=0))
    # 0.6.0's zero_evidence_inference prints a progress bar: the JSON is the last line of stdout.
    attempt(result, "zero_evidence", lambda: evidence_model(stack, True).zero_evidence_inference(2))
    if any(isinstance(layer, layers.NormalizeStandardScore) for layer in stack):
        hidden_as_observed = stats_preserving(x, mask)
        attempt(
            result,
            "complete_stats_preserving",
            lambda: evidence_model(stack, True).predict([hidden_as_observed, predict_mask], verbose=0),
        )
        result["masked_stats_preserving"] = masked_forward(model, hidden_as_observed, leaf_mask)[-1].tolist()
    kernels = [v for layer in model.layers for v in layer.weights if short_name(v) in ("onehot_kernel", "kernel")]
    if any(len(v.shape) == 4 and v.shape[-1] > 1 for v in kernels):
        # A 0.6.0 checkpoint restores its product kernels: write 0.6.0's all-combination order into every one.
        for variable in kernels:
            if len(variable.shape) == 4 and variable.shape[-1] > 1:
                variable.assign(original_combinations(tuple(variable.shape)).astype(np.float32))
        attempt(result, "model_with_original_kernels", lambda: model.predict(x, verbose=0))
    if not ORIGINAL:
        marked = np.where(mask, x, -1 if x.dtype.kind == "i" else np.nan).astype(x.dtype)
        attempt(result, "api_marked", lambda: model.predict(marked, verbose=0))
        attempt(result, "api_log_likelihood", lambda: model.log_likelihood(x, evidence_mask=mask))
        attempt(result, "api_zero_evidence", lambda: model.zero_evidence_inference(2))  # 0.6.0 prints a progress bar
    return result


def temporal_dense_product():
    """Single scopes, as in dynamic SPNs; ``several_scopes``: 0.6.0 also multiplies per (scope, decomposition)."""
    rng = np.random.default_rng(5)
    result = {}
    for key, scopes in (("layer_0", (1, 1)), ("several_scopes", (2, 3))):
        a = rng.normal(size=(3, *scopes, 3)).astype(np.float32)
        b = rng.normal(size=(3, *scopes, 4)).astype(np.float32)
        attempt(result, key, lambda: layers.TemporalDenseProduct()([a, b]))  # noqa: B023 -- called at once
    return result


def undecompose():
    """``Undecompose`` of 8 decompositions: by default, and with ``num_decomps`` given (0.6.0: decompositions out)."""
    x = np.random.default_rng(7).normal(size=(2, 1, 8, 3)).astype(np.float32)
    result = {}
    for key, kwargs in (
        ("default", {}),
        ("num_decomps_1", dict(num_decomps=1)),
        ("num_decomps_2", dict(num_decomps=2)),
    ):
        attempt(result, key, lambda: layers.Undecompose(**kwargs)(x))  # noqa: B023 -- called at once
    return result


def normalize_global():
    """``NormalizeStandardScore(axes=GLOBAL)`` adapted on a batched dataset, then applied."""
    rng = np.random.default_rng(6)
    x = rng.normal(2.0, 3.0, size=(12, 5)).astype(np.float32)
    result = {}

    def adapted():
        layer = layers.NormalizeStandardScore(axes=layers.NormalizeAxes.GLOBAL)
        layer.adapt(tf.data.Dataset.from_tensor_slices(x).batch(4))
        return layer(x)

    attempt(result, "layer_0", adapted)
    return result


def main():
    names = sys.argv[2:] or list(CASES)
    results = {name: run_case(name) for name in names}
    results["temporal_dense_product"] = temporal_dense_product()
    results["normalize_global"] = normalize_global()
    results["undecompose"] = undecompose()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
