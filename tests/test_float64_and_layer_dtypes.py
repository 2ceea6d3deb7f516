"""float64 models (``keras.config.set_floatx``) keep float64 data, and layers given their own ``dtype`` work in models.

References are independent: scipy densities in float64, and the same layers run one by one in ``keras.Sequential``
(where Keras casts every layer's input to its compute dtype).
"""

import itertools

import numpy as np
import pytest
from scipy import stats
from tensorflow import keras

from libspn_keras import layers
from libspn_keras.models import SequentialSumProductNetwork, build_hclt, build_rat_spn


@pytest.fixture
def float64():
    # Keras makes its global dtype policy from floatx once and keeps it: set and restore both.
    keras.config.set_floatx("float64")
    keras.mixed_precision.set_global_policy("float64")
    try:
        yield
    finally:
        keras.config.set_floatx("float32")
        keras.mixed_precision.set_global_policy("float32")


def test_build_rat_spn_reads_float64_data_under_floatx_float64(float64):
    # 2 variables, one Normal component each and one input distribution: LL = sum_v log N(x_v; loc_v, scale_v).
    leaf = layers.NormalLeaf(num_components=1, scale_initializer=keras.initializers.Constant(0.05))
    model = build_rat_spn(num_vars=2, depth=1, num_decomps=1, num_input_distributions=1, num_sums=1, leaf=leaf)
    x = np.random.default_rng(0).normal(size=(64, 2)) * 3.0
    location = np.asarray(leaf.location_tensor()).reshape(2)
    scale = np.asarray(leaf.scale_tensor()).reshape(2)
    expected = stats.norm.logpdf(x, location, scale).sum(axis=1)
    assert model.inputs[0].dtype == "float64"
    np.testing.assert_allclose(np.asarray(model.log_likelihood(x)).reshape(-1), expected, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)).reshape(-1), expected, rtol=1e-12, atol=1e-10)


def test_build_hclt_reads_float64_data_under_floatx_float64(float64):
    x = np.random.default_rng(1).normal(size=(200, 3)) * 3.0
    model = build_hclt(x, num_latents=1, data_type="gaussian", sum_op="grad")
    assert model.inputs[0].dtype == "float64"
    rounded = x.astype(np.float32).astype(np.float64)
    difference = np.asarray(model.log_likelihood(x)) - np.asarray(model.log_likelihood(rounded))
    assert np.max(np.abs(difference)) > 0  # the data were not rounded to float32 on the way in


def _stack(lower_dtype, sum_op):
    kwargs = dict(sum_op=sum_op, logspace_accumulators=sum_op == "grad")
    dtype = {} if lower_dtype is None else {"dtype": lower_dtype}
    return [
        keras.Input(shape=(4,), dtype="int32"),
        layers.FlatToRegions(num_decomps=1),
        layers.IndicatorLeaf(num_components=2),
        layers.DenseSum(num_sums=3, **kwargs, **dtype),
        layers.DenseProduct(num_factors=2),  # fused with the DenseSum above it by the SPN model
        layers.DenseSum(num_sums=2, **kwargs),
        layers.DenseProduct(num_factors=2),
        layers.RootSum(return_weighted_child_logits=False, **kwargs),
    ]


@pytest.mark.parametrize("sum_op", ["grad", "em"])
@pytest.mark.parametrize("lower_dtype", ["float64", "mixed_float16"])
def test_a_layer_dtype_below_a_fused_pair(lower_dtype, sum_op):
    x = np.array(list(itertools.product([0, 1], repeat=4)), np.int32)
    model = SequentialSumProductNetwork(_stack(lower_dtype, sum_op))
    plain = keras.Sequential(_stack(lower_dtype, sum_op))
    plain.set_weights(model.get_weights())
    expected = np.asarray(plain(x), np.float64).reshape(-1)
    tolerance = 1e-6 if lower_dtype == "float64" else 1e-2  # half precision resolves ~1e-3 at these values
    for output in (model(x), model.predict(x, verbose=0), model.log_likelihood(x)):
        log_likelihood = np.asarray(output, np.float64).reshape(-1)
        np.testing.assert_allclose(log_likelihood, expected, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(np.exp(log_likelihood).sum(), 1.0, atol=tolerance)


def test_a_leaf_dtype_below_a_fused_sum_and_reduction():
    # DenseSum -> ReduceProduct is fused by the EM sum op; the leaf computes in float64, the rest in float32.
    kwargs = dict(sum_op="em", logspace_accumulators=False)

    def stack():
        return [
            keras.Input(shape=(4,)),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2, dtype="float64"),
            layers.DenseSum(num_sums=3, **kwargs),
            layers.ReduceProduct(num_factors=2),
            layers.DenseSum(num_sums=2, **kwargs),
            layers.ReduceProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, **kwargs),
        ]

    model, plain = SequentialSumProductNetwork(stack()), keras.Sequential(stack())
    plain.set_weights(model.get_weights())
    x = np.random.default_rng(2).normal(size=(8, 4))
    for output in (model(x), model.predict(x, verbose=0), model.log_likelihood(x)):
        np.testing.assert_allclose(
            np.asarray(output).reshape(-1), np.asarray(plain(x)).reshape(-1), rtol=1e-6, atol=1e-6
        )


@pytest.mark.parametrize("lower_dtype, fused_pairs", [(None, 1), ("float64", 0)])
def test_the_pairs_stay_fused_where_the_dtypes_agree(monkeypatch, lower_dtype, fused_pairs):
    # The fused pair is the fast path: a float32 model keeps it; a pair whose input has another dtype is not fused.
    calls = []
    fused = layers.DenseSum.sum_of_pair_products
    monkeypatch.setattr(layers.DenseSum, "sum_of_pair_products", lambda self, x: calls.append(self) or fused(self, x))
    model = SequentialSumProductNetwork(_stack(lower_dtype, "grad"))
    model(np.zeros((2, 4), np.int32))
    assert len(calls) == fused_pairs
