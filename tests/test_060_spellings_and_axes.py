"""0.6.0 scripts compare ``layer.axes`` with ``NormalizeAxes`` members and pass 0.6.0's keyword names."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from libspn_keras import layers, metrics

X = (np.random.default_rng(0).normal(size=(8, 3)) * [1.0, 5.0, 10.0] + [2.0, -3.0, 7.0]).astype("float32")


@pytest.mark.parametrize("axes", list(layers.NormalizeAxes))
def test_axes_compare_equal_to_060_members(axes):
    layer = layers.NormalizeStandardScore(axes=axes)
    assert layer.axes == axes and axes == layer.axes and not layer.axes != axes
    assert layer.axes == axes.value and layer.axes == axes.value.replace("-", "_")
    assert all(layer.axes != other for other in layers.NormalizeAxes if other is not axes)
    config = layer.get_config()
    assert type(config["axes"]) is str and json.loads(json.dumps(config))["axes"] == config["axes"]
    assert layers.NormalizeStandardScore.from_config(config).axes == axes
    # 0.6.0 kept the member itself: its value and name are read from the layer too.
    assert (layer.axes.value, layer.axes.name, layer.axes.member) == (axes.value, axes.name, axes)
    spelled = layers.NormalizeStandardScore(axes=axes.value)
    assert (spelled.axes.value, spelled.axes.name) == (axes.value, axes.name)


def test_060_branch_on_axes_adapts_and_gives_z_scores():
    norm = layers.NormalizeStandardScore(axes=layers.NormalizeAxes.VARIABLE_WISE)
    if norm.axes == layers.NormalizeAxes.VARIABLE_WISE:  # as 0.6.0 scripts decide whether to adapt
        norm.adapt(tf.data.Dataset.from_tensor_slices(X).batch(4))
    np.testing.assert_allclose(norm(X).numpy(), (X - X.mean(0)) / (X.std(0) + 1e-8), atol=1e-5)


def test_adapt_takes_060_keyword_ds():
    norm = layers.NormalizeStandardScore(axes=layers.NormalizeAxes.GLOBAL)
    norm.adapt(ds=tf.data.Dataset.from_tensor_slices(X).batch(3))
    np.testing.assert_allclose(norm(X).numpy(), (X - X.mean()) / (X.std() + 1e-8), atol=1e-5)
    with pytest.raises(TypeError):
        norm.adapt(X, ds=X)


def test_layers_take_060_inputs_keyword():
    out = layers.FlatToRegions(num_decomps=2)(inputs=X).numpy()
    np.testing.assert_array_equal(out, np.repeat(X[:, :, None, None], 2, axis=2))
    x = X.reshape(8, 3, 1, 1)
    np.testing.assert_array_equal(layers.LogDropout(rate=0.5)(inputs=x).numpy(), x)


def test_log_likelihood_takes_060_keyword_y_target():
    log_p = np.log(np.array([[0.2], [0.5]], "float32"))
    metric = metrics.LogLikelihood()
    metric.update_state(y_target=np.zeros((2, 1), "float32"), y_pred=log_p)
    np.testing.assert_allclose(float(metric.result()), log_p.mean(), rtol=1e-6)


@pytest.mark.parametrize(("depthwise", "channels", "expected"), [(True, 3, 3), (False, 2, 16)])
def test_conv2d_product_resolves_num_channels_when_built(depthwise, channels, expected):
    # 0.6.0 fills in num_channels at build (the input channels when depthwise, else the combinations made), and
    # scripts size the next layer from it.
    conv = layers.Conv2DProduct(strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2], depthwise=depthwise)
    out = conv(np.zeros((1, 4, 4, channels), "float32"))
    assert conv.num_channels == out.shape[-1] == expected
    clone = layers.Conv2DProduct.from_config(conv.get_config())
    assert clone(np.zeros((1, 4, 4, channels), "float32")).shape == out.shape


def test_060_submodules_are_attributes_of_the_package():
    # 0.6.0's package imported these modules, so a script could write spnk.region.region_graph_to_dense_spn after
    # a bare import (a fresh interpreter: other tests import the modules themselves).
    paths = [
        "region.region_graph_to_dense_spn", "region.RegionNode", "models.sequential_spn.SequentialSumProductNetwork",
        "models.spn.SumProductNetwork", "models.dynamic_spn.DynamicSumProductNetwork",
        "sum_ops.em_backprop.SumOpEMBackprop", "sum_ops.grad_backprop.SumOpGradBackprop",
        "sum_ops.hard_em_backprop.SumOpHardEMBackprop", "sum_ops.sample_backprop.SumOpSampleBackprop",
        "sum_ops.unweighted_hard_em_backprop.SumOpUnweightedHardEMBackprop",
    ]  # fmt: skip
    script = (
        "import functools, libspn_keras as spnk\n"
        f"for path in {paths!r}:\n"
        "    functools.reduce(getattr, path.split('.'), spnk)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("axes", ["sample_wise", "variable_wise", "global"])
def test_return_stats_as_a_call_argument_in_a_model(axes):
    # Keras computed the symbolic output from the layer's own return_stats only: a model got one output, and the
    # statistics were lost.
    layer = layers.NormalizeStandardScore(axes=axes)
    if axes != "sample_wise":
        layer.adapt(X)
    inputs = tf.keras.Input((3,))
    outputs = layer(inputs, return_stats=True)
    assert isinstance(outputs, tuple) and len(outputs) == 3
    model = tf.keras.Model(inputs, outputs)
    for got, expected in zip(model.predict(X, verbose=0), layer(X, return_stats=True)):
        np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), rtol=1e-6)
    assert not isinstance(layer(inputs), tuple)


def test_a_string_epsilon_is_refused_as_an_epsilon():
    with pytest.raises(ValueError, match="normalization_epsilon must be a finite number"):
        layers.NormalizeStandardScore(normalization_epsilon="0.1")
