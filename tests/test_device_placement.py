"""What a GPU needs from the models beyond CPU correctness.

TensorFlow keeps int32 variables in host memory on a GPU, and an XLA-compiled step (Keras's default there)
cannot read a variable that lives on another device: the first ``fit`` of a RAT-SPN failed so on an H200
while every CPU test passed. The checks here run on CPU and catch such variables before a GPU does.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, metrics, models, optimizers, region_graph, structure


def _binary(rows, columns, seed=0):
    return np.random.default_rng(seed).integers(0, 2, (rows, columns)).astype("int32")


def _rat_spn():
    return models.build_rat_spn(
        num_vars=9, depth=2, num_decomps=2, num_input_distributions=2, num_sums=2, sum_op="em"
    ), _binary(40, 9)


def _hclt():
    data = _binary(40, 6)
    return models.build_hclt(data, num_latents=2, seed=0), data


def _poon_domingos():
    graph = structure.poon_domingos_region_graph(2, 2)
    leaf = layers.IndicatorLeaf(num_components=2)
    return models.compile_region_graph(graph, leaf, num_sums=2, sum_op="em"), _binary(40, 4).astype("float32")


def _dense_region_graph():
    keras.utils.set_random_seed(0)
    root = region_graph.random_region_graph(num_vars=4, depth=2, num_decomps=2)
    model = models.region_graph_to_dense_spn(
        root, leaf_node=layers.IndicatorLeaf(num_components=2), num_sums_iterable=[2, 2], sum_op="em"
    )
    return model, _binary(40, 4).astype("float32")


def _spatial():
    keras.utils.set_random_seed(0)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((4, 4, 1)),
            layers.NormalLeaf(num_components=2),
            layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=False, num_channels=3),
            layers.Local2DSum(num_sums=2, sum_op="em"),
            layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=True),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    return model, np.random.default_rng(0).normal(size=(40, 4, 4, 1)).astype("float32")


BUILDERS = {
    "rat_spn": _rat_spn,
    "hclt": _hclt,
    "poon_domingos": _poon_domingos,
    "dense_region_graph": _dense_region_graph,
    "spatial": _spatial,
}


def _every_variable(model):
    found = list(model.variables) + list(model.optimizer.variables)
    found += [metric_variable for metric in model.metrics for metric_variable in metric.variables]
    found += [value for value in vars(model).values() if isinstance(value, (tf.Variable, keras.Variable))]
    return found


# hclt compiles its region graph through compile_region_graph, as poon_domingos does in the core run.
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "hclt" else n for n in sorted(BUILDERS)]
)
def test_no_variable_of_a_trained_model_is_int32(name):
    model, data = BUILDERS[name]()
    model.compile(
        optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.05), metrics=[metrics.LogLikelihood()]
    )
    model.fit(data, batch_size=20, epochs=1, verbose=0)
    model.evaluate(data, batch_size=20, verbose=0)
    found = _every_variable(model)
    assert any("permutations" in variable.name for variable in found) or name != "rat_spn"
    int32 = [variable.name for variable in found if tf.as_dtype(variable.dtype) == tf.int32]
    assert not int32, f"{name}: int32 variables {int32} would sit in host memory on a GPU"


def test_random_permutations_saved_as_int32_still_load(tmp_path):
    """Models saved before the permutations became int64 stored them as int32: loading casts them."""
    model, data = _rat_spn()
    model(data[:2])
    permute = next(layer for layer in model.layers if isinstance(layer, layers.PermuteAndPadScopesRandom))
    drawn = np.asarray(permute.permutations)
    path = tmp_path / "weights.weights.h5"
    model.save_weights(path)
    import h5py

    with h5py.File(path, "r+") as handle:
        names = []
        handle.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        for name in names:
            if np.issubdtype(handle[name].dtype, np.int64):
                values = handle[name][...]
                del handle[name]
                handle[name] = values.astype(np.int32)
    fresh, _ = _rat_spn()
    fresh(data[:2])
    fresh.load_weights(path)
    fresh_permute = next(layer for layer in fresh.layers if isinstance(layer, layers.PermuteAndPadScopesRandom))
    np.testing.assert_array_equal(np.asarray(fresh_permute.permutations), drawn)
    np.testing.assert_allclose(fresh.log_likelihood(data), model.log_likelihood(data), rtol=1e-6)


def test_importing_the_library_turns_tensor_float_32_off():
    """TensorFloat-32 (the default for float32 matmuls on Ampere and newer GPUs) keeps 10 mantissa bits; an
    H200 then missed the enumeration and EM references by up to 1.3e-4 relative. The library turns it off."""
    import libspn_keras  # noqa: F401

    assert not tf.config.experimental.tensor_float_32_execution_enabled()
