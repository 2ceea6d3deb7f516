"""The documented extension points, used as a user would: a sum op, a leaf and a data initializer written outside the
library (docs/api/sum_ops.rst "Writing a sum op", docs/guide/contributing.md, the docstrings of ``LeafBase`` and
``DataInitializerBase``), checked against numpy enumerations, closed forms and numerical integration."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from reference import all_binary, normalized_weights, np_logsumexp, randomize_accumulators, sum_layers
from tensorflow import keras

from libspn_keras import layers, models, sum_ops
from libspn_keras.initializers import DataInitializerBase
from libspn_keras.math import log_matmul
from libspn_keras.sum_ops.base import (
    SumOpBase,
    add_log_weights,
    normalized_log_weights,
    register_sum_op,
    registered_sum_ops,
)

OP_NAME = "test_extension_points_tempered"


@register_sum_op(OP_NAME)
class TemperedSumOp(SumOpBase):
    """A user's sum op: weights ``w^(1 / temperature)``, renormalized, summed by ``log_matmul``; plain gradients.

    ``temperature`` is a constructor argument given back by ``get_config``, so saving must keep it.
    """

    calls = 0

    def __init__(self, temperature=1.0):
        self.temperature = float(temperature)

    def log_weights(self, accumulators, logspace_accumulators):
        log_w = normalized_log_weights(accumulators, logspace_accumulators) / self.temperature
        return tf.nn.log_softmax(log_w, axis=-2)

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        type(self).calls += 1
        return log_matmul(x, log_weights=self.log_weights(accumulators, logspace_accumulators))

    def weighted_children(self, x, accumulators, logspace_accumulators):
        type(self).calls += 1
        return add_log_weights(x, self.log_weights(accumulators, logspace_accumulators))

    def get_config(self):
        return {"temperature": self.temperature}


def tempered(layer, temperature):
    """Normalized weights of a sum layer as ``TemperedSumOp`` uses them, in float64 numpy."""
    acc = layer.accumulators.numpy().astype(np.float64)
    log_w = acc if layer.logspace_accumulators else np.log(acc)
    log_w = log_w / temperature
    w = np.exp(log_w - log_w.max(axis=-2, keepdims=True))
    return w / w.sum(axis=-2, keepdims=True)


def four_variable_model(sum_op, num_classes=None, logspace_accumulators=None):
    """4 binary variables: indicators, sums per variable, pairs, sums per pair, the product of both pairs, root."""
    s = dict(sum_op=sum_op, logspace_accumulators=logspace_accumulators)
    top = [layers.RootSum(return_weighted_child_logits=False, **s)]
    if num_classes is not None:
        top = [layers.DenseSum(num_sums=num_classes, **s), layers.RootSum(return_weighted_child_logits=True, **s)]
    return models.SequentialSumProductNetwork(
        [
            keras.Input(shape=(4,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2, **s),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=2, **s),
            layers.DenseProduct(num_factors=2),
            *top,
        ]
    )


def np_four_variable_top(x, weights):
    """The 4 product values under the top sum(s) of ``four_variable_model``, ``[N, 4]``, from its first two sum
    layers' weights (``[var, 1, c, i]`` and ``[pair, 1, i * 2 + j, k]``)."""
    w0, w1 = weights
    ind = np.stack([x == c for c in range(2)], axis=-1).astype(np.float64)  # [N, var, c]
    leaf_sums = np.einsum("vci,nvc->nvi", w0[:, 0], ind)  # [N, var, i]
    pairs = np.einsum("nsi,nsj->nsij", leaf_sums[:, 0::2], leaf_sums[:, 1::2]).reshape(len(x), 2, 4)
    pair_sums = np.einsum("smk,nsm->nsk", w1[:, 0], pairs)  # [N, pair, k]
    return np.einsum("nk,nl->nkl", pair_sums[:, 0], pair_sums[:, 1]).reshape(len(x), 4)  # node k * 2 + l


def test_a_registered_user_sum_op_is_found_by_name_and_resolved_to_an_instance():
    assert registered_sum_ops()[OP_NAME] is TemperedSumOp
    assert isinstance(sum_ops.get(OP_NAME), TemperedSumOp)
    layer = layers.DenseSum(num_sums=2, sum_op=OP_NAME)
    assert isinstance(layer.sum_op, TemperedSumOp)
    with pytest.raises(ValueError, match="unknown sum op"):
        layers.DenseSum(num_sums=2, sum_op=OP_NAME + "_never_registered")


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_user_sum_op_by_name_gives_the_numpy_network_and_sums_to_one(temperature):
    op = TemperedSumOp(temperature) if temperature != 1.0 else OP_NAME
    model = four_variable_model(op)
    x = all_binary(4)
    model(x[:1])
    randomize_accumulators(model, np.random.default_rng(3))
    calls = TemperedSumOp.calls
    log_p = model(x).numpy()[:, 0]
    assert TemperedSumOp.calls > calls  # the user's op computed the sums
    assert all(isinstance(layer.sum_op, TemperedSumOp) for layer in sum_layers(model))
    w0, w1, w_root = (tempered(layer, temperature) for layer in sum_layers(model))
    expected = np.log(np_four_variable_top(x, (w0, w1)) @ w_root[:, 0])
    np.testing.assert_allclose(log_p, expected, atol=1e-5)
    assert abs(np_logsumexp(log_p)) < 1e-5
    np.testing.assert_allclose(model.predict(x, verbose=0)[:, 0], expected, atol=1e-5)  # the traced step too


def test_user_sum_op_weighted_children_give_the_per_class_joint():
    model = four_variable_model(TemperedSumOp(1.5), num_classes=3)
    x = all_binary(4)
    model(x[:1])
    randomize_accumulators(model, np.random.default_rng(4))
    w0, w1, w_class, w_root = (tempered(layer, 1.5) for layer in sum_layers(model))
    classes = np_four_variable_top(x, (w0, w1)) @ w_class[0, 0]  # [N, 3]
    expected = np.log(classes) + np.log(w_root[:, 0])
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-5)
    assert abs(np_logsumexp(model(x).numpy())) < 1e-5


def four_variable_model_like(model, sum_op):
    """A copy of ``four_variable_model``'s weights under another sum op."""
    other = four_variable_model(sum_op)
    other(all_binary(4)[:1])
    for source, target in zip(sum_layers(model), sum_layers(other)):
        target.accumulators.assign(source.accumulators)
    return other


def test_model_with_user_sum_op_saves_and_loads_with_its_config_and_outputs(tmp_path):
    model = four_variable_model(TemperedSumOp(3.0))
    x = all_binary(4)
    model(x[:1])
    randomize_accumulators(model, np.random.default_rng(5))
    before = model.predict(x, verbose=0)
    path = tmp_path / "user_sum_op.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    ops = [layer.sum_op for layer in sum_layers(loaded)]
    assert all(isinstance(op, TemperedSumOp) and op.temperature == 3.0 for op in ops)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, atol=1e-6)
    # A temperature of 1 gives other numbers: the saved configuration, not the op's default, was restored.
    assert not np.allclose(four_variable_model_like(loaded, TemperedSumOp(1.0))(x).numpy(), before, atol=1e-3)


def test_user_sum_op_trains_by_gradients():
    rng = np.random.default_rng(6)
    x = np.repeat(all_binary(4), [20, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 20], axis=0)
    model = four_variable_model(OP_NAME, logspace_accumulators=True)
    model(x[:1])
    randomize_accumulators(model, rng, logspace=True, scale=0.5)
    model.compile(optimizer=keras.optimizers.Adam(0.1), jit_compile=False)
    before = model.evaluate(x, verbose=0)
    model.fit(x, epochs=15, batch_size=len(x), verbose=0)
    after = model.evaluate(x, verbose=0)
    assert after < before - 0.2
    assert abs(np_logsumexp(model(all_binary(4)).numpy())) < 1e-5


# --------------------------------------------------------------------------------------------------------------
# Leaves written on LeafBase, implementing component_log_prob (and build, for their parameters) only.


class BernoulliLeaf(layers.LeafBase):
    """``p(x = 1) = sigmoid(logit)`` per variable and component, through tensorflow_probability."""

    def build(self, input_shape):
        super().build(input_shape)
        shape = tuple(input_shape[1:-1]) + (self.num_components, input_shape[-1])
        self.logits = self.add_weight(
            name="logits", shape=shape, initializer=keras.initializers.RandomNormal(stddev=1.5, seed=1)
        )

    def component_log_prob(self, x):
        return tfp.distributions.Bernoulli(logits=self.logits, dtype=x.dtype).log_prob(x)


class ExponentialLeaf(layers.LeafBase):
    """Exponential densities ``rate * exp(-rate * x)`` for ``x >= 0``, through tensorflow_probability."""

    def build(self, input_shape):
        super().build(input_shape)
        shape = tuple(input_shape[1:-1]) + (self.num_components, input_shape[-1])
        self.rate = self.add_weight(
            name="rate", shape=shape, initializer=keras.initializers.RandomUniform(0.5, 2.0, seed=2)
        )

    def component_log_prob(self, x):
        return tfp.distributions.Exponential(rate=self.rate).log_prob(x)


def mixture_of_products(leaf, num_vars, dtype):
    """``sum_k w_k prod_v leaf_vk(x_v)``: the leaf's components of all variables multiplied, under a root sum."""
    return models.SequentialSumProductNetwork(
        [
            keras.Input(shape=(num_vars,), dtype=dtype),
            layers.FlatToRegions(num_decomps=1),
            leaf,
            layers.DenseProduct(num_factors=num_vars),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


def test_user_bernoulli_leaf_matches_numpy_and_sums_to_one():
    leaf = BernoulliLeaf(num_components=2)
    model = mixture_of_products(leaf, 3, "float32")
    x = all_binary(3).astype(np.float32)
    model(x[:1])
    randomize_accumulators(model, np.random.default_rng(7))
    assert leaf.logits.shape == (3, 1, 2, 1)
    p1 = 1.0 / (1.0 + np.exp(-leaf.logits.numpy()[:, 0, :, 0].astype(np.float64)))  # [var, i]
    per_var = np.where(x[:, :, None] == 1, p1, 1.0 - p1)  # [N, var, i]
    nodes = np.einsum("ni,nj,nl->nijl", per_var[:, 0], per_var[:, 1], per_var[:, 2]).reshape(len(x), 8)
    (w_root,) = (normalized_weights(layer)[:, 0] for layer in sum_layers(model))
    log_p = model.predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(log_p, np.log(nodes @ w_root), atol=1e-5)
    assert abs(np_logsumexp(log_p)) < 1e-5
    # Missing entries (NaN) are marginalized by the base class: p(x0 = 1) alone.
    marginal = model.predict(np.array([[1.0, np.nan, np.nan]], np.float32), verbose=0)[0, 0]
    np.testing.assert_allclose(marginal, np.log(p1[0] @ _mixture_weights(w_root)), atol=1e-5)


def _mixture_weights(w_root):
    """The weight of each first-variable component: the root's weights summed over the other variables' nodes."""
    return w_root.reshape(2, 4).sum(axis=1)


class BernoulliLeafMissingMinusOne(BernoulliLeaf):
    """As contributing.md says: "what counts as missing in observed_mask", here -1 as well as NaN."""

    def observed_mask(self, x):
        return tf.logical_and(super().observed_mask(x), tf.not_equal(x, tf.constant(-1, x.dtype)))


def test_missing_entries_named_by_a_user_leaf_observed_mask_are_marginalized():
    leaf = BernoulliLeafMissingMinusOne(num_components=2)
    x = tf.constant([[[-1.0]], [[np.nan]]])
    assert not leaf.observed_mask(x).numpy().any()
    np.testing.assert_array_equal(leaf(x).numpy(), np.zeros((2, 1, 2)))


def test_user_bernoulli_leaf_learns_by_gradients():
    leaf = BernoulliLeaf(num_components=1)
    model = mixture_of_products(leaf, 2, "int32")
    x = np.array([[1, 0]] * 9 + [[0, 1]], np.int32)
    model.compile(optimizer=keras.optimizers.Adam(0.2), jit_compile=False)
    model.fit(x, epochs=60, batch_size=len(x), verbose=0)
    # One component: the maximum-likelihood p(x_v = 1) is each column's mean.
    p1 = 1.0 / (1.0 + np.exp(-leaf.logits.numpy().ravel()))
    np.testing.assert_allclose(p1, x.mean(axis=0), atol=0.03)


def test_user_exponential_leaf_matches_the_mixture_density_and_integrates_to_one():
    leaf = ExponentialLeaf(num_components=3)
    model = mixture_of_products(leaf, 1, "float32")
    model(np.ones((1, 1), np.float32))
    randomize_accumulators(model, np.random.default_rng(8))
    rate = leaf.rate.numpy().ravel().astype(np.float64)
    (w_root,) = (normalized_weights(layer)[:, 0] for layer in sum_layers(model))
    grid = np.linspace(0.0, 60.0, 300001)
    density = np.exp(model.predict(grid[:, None].astype(np.float32), batch_size=100000, verbose=0)[:, 0])
    np.testing.assert_allclose(density, (w_root * rate * np.exp(-rate * grid[:, None])).sum(axis=1), rtol=1e-4)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-4)


# --------------------------------------------------------------------------------------------------------------
# A data initializer written on DataInitializerBase, implementing estimate only.


class QuantileLocations(DataInitializerBase):
    """Component ``k`` of every cell at the ``(k + 1/2) / K`` quantile of that cell's samples."""

    estimates = 0

    def estimate(self, data, num_components):
        type(self).estimates += 1
        levels = (np.arange(num_components) + 0.5) / num_components
        return np.moveaxis(np.quantile(data, levels, axis=0), 0, 1)  # [K, C, d] -> [C, K, d]


def normal_leaf_model(initializer, num_vars=3, num_decomps=2, dims=1):
    leaf = layers.NormalLeaf(num_components=4, location_initializer=initializer)
    shape = (num_vars,) if dims == 1 else (num_vars, dims)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input(shape=shape),
            layers.FlatToRegions(num_decomps=num_decomps),
            leaf,
            layers.DenseProduct(num_factors=num_vars),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    return model, leaf


def expected_quantiles(samples):
    """``[vars, K, d]`` quantiles of samples ``[N, vars, d]`` for K = 4, by numpy per variable and dimension."""
    levels = (np.arange(4) + 0.5) / 4
    return np.stack([np.quantile(samples[:, v], levels, axis=0) for v in range(samples.shape[1])])


def test_user_data_initializer_sets_the_leaf_locations_from_its_estimates():
    samples = np.random.default_rng(9).normal(loc=[-3.0, 0.0, 5.0], size=(60, 3))
    before = QuantileLocations.estimates
    # Data [N, vars, 1, d]: the cell axis of size 1 broadcasts over both decompositions.
    model, leaf = normal_leaf_model(QuantileLocations(samples[:, :, None, None]))
    assert QuantileLocations.estimates > before
    assert leaf.location.shape == (3, 2, 4, 1)
    expected = expected_quantiles(samples[:, :, None])[:, None]  # [vars, 1, K, d]
    np.testing.assert_allclose(leaf.location.numpy(), np.broadcast_to(expected, (3, 2, 4, 1)), atol=1e-5)


def test_user_data_initializer_adapted_later_on_two_dimensional_cells(tmp_path):
    samples = np.random.default_rng(10).normal(size=(40, 2, 2)) * [1.0, 10.0]
    initializer = QuantileLocations()
    with pytest.raises(RuntimeError, match="no data"):
        normal_leaf_model(initializer, num_vars=2, num_decomps=1, dims=2)
    initializer.adapt(samples[:, :, None, :])
    model, leaf = normal_leaf_model(initializer, num_vars=2, num_decomps=1, dims=2)
    np.testing.assert_allclose(leaf.location.numpy()[:, 0], expected_quantiles(samples), atol=1e-4)
    # The data stay out of the configuration; a loaded model keeps the estimates through its weights.
    assert QuantileLocations().get_config() == {} and "data" not in initializer.get_config()
    path = tmp_path / "data_initializer.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"QuantileLocations": QuantileLocations}, compile=False)
    np.testing.assert_allclose(loaded.layers[1].location.numpy(), leaf.location.numpy())


def test_user_data_initializer_refuses_data_shaped_unlike_the_leaf_input():
    with pytest.raises(ValueError, match="does not match parameters"):
        normal_leaf_model(QuantileLocations(np.zeros((10, 5, 1, 1))))
