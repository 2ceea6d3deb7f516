"""Leaves written for libspn-keras 0.6.0 through its subclassing hooks work unchanged, checked against numpy."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow import keras

from libspn_keras import layers, models


class LogisticLeaf(layers.LocationScaleLeafBase):
    """0.6.0's hook of location-scale leaves."""

    def _build_distribution_from_loc_and_scale(self, loc, scale):
        return tfp.distributions.Logistic(loc=loc, scale=scale)


class LaplaceAsNormalLeaf(layers.NormalLeaf):
    """The hook overrides the distribution of a built-in leaf, as in 0.6.0."""

    def _build_distribution_from_loc_and_scale(self, loc, scale):
        return tfp.distributions.Laplace(loc=loc, scale=scale)


class LearnedExponentialLeaf(layers.BaseLeaf):
    """0.6.0's hooks of any leaf: a weight made in _build_distribution, the distribution from _get_distribution."""

    def _build_distribution(self, shape):
        self.shape_seen, self.cells_seen = shape, (self._num_scopes, self._num_decomps)
        self.log_rate = self.add_weight(name="log_rate", shape=shape, initializer="zeros")

    def _get_distribution(self):
        return tfp.distributions.Exponential(rate=tf.exp(self.log_rate))


def logistic_log_pdf(x, location, scale):
    z = (x - location) / scale
    return -z - np.log(scale) - 2 * np.log1p(np.exp(-z))


def laplace_log_pdf(x, location, scale):
    return -np.log(2 * scale) - np.abs(x - location) / scale


def leaf_model(leaf, num_vars=3):
    return models.SequentialSumProductNetwork(
        [
            keras.Input((num_vars,)),
            layers.FlatToRegions(num_decomps=1),
            leaf,
            layers.DenseSum(num_sums=1),
            layers.ReduceProduct(num_factors=num_vars),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


def mixture_reference(model, leaf_log_pdf, x):
    """log p(x) of FlatToRegions -> leaf -> one sum per variable -> product, in numpy."""
    sums = model.layers[2]
    accumulators = sums.accumulators.numpy().astype(np.float64)[:, 0, :, 0]  # [vars, components]
    weights = np.exp(accumulators) if sums.logspace_accumulators else accumulators
    weights = weights / weights.sum(axis=-1, keepdims=True)
    per_component = leaf_log_pdf(x[:, :, None])  # [batch, vars, components]
    return np.log((np.exp(per_component) * weights).sum(-1)).sum(-1)


@pytest.mark.parametrize("use_accumulators", [False, True])
def test_a_location_scale_leaf_written_for_060_gives_its_distributions_densities(use_accumulators):
    location = np.array([[-0.5, 0.7]] * 3)
    leaf = LogisticLeaf(
        num_components=2,
        location_initializer=keras.initializers.Constant(location[:, :, None]),
        scale_initializer=keras.initializers.Constant(0.8),
        use_accumulators=use_accumulators,
    )
    model = leaf_model(leaf)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    out = leaf(x[:, :, None, None]).numpy()[:, :, 0, :]
    np.testing.assert_allclose(out, logistic_log_pdf(x[:, :, None], location, 0.8), rtol=1e-5, atol=1e-6)
    model(x)
    model.layers[2].accumulators.assign(np.random.default_rng(1).uniform(0.2, 1.0, size=(3, 1, 2, 1)))
    got = model.log_likelihood(x)
    expected = mixture_reference(model, lambda v: logistic_log_pdf(v, location, 0.8), x.astype(np.float64))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(np.squeeze(leaf.mode().numpy()), location, rtol=1e-6)


def test_a_built_in_leaf_whose_060_hook_is_overridden_uses_the_hooks_distribution():
    leaf = LaplaceAsNormalLeaf(
        num_components=2,
        location_initializer=keras.initializers.Constant([[0.0], [1.0]]),
        scale_initializer=keras.initializers.Constant(0.5),
    )
    x = np.array([[0.3], [-1.2]], np.float32)
    out = leaf(x[:, :, None, None]).numpy()[:, 0, 0, :]
    np.testing.assert_allclose(out, laplace_log_pdf(x, np.array([0.0, 1.0]), 0.5), rtol=1e-6)


def test_a_leaf_written_with_060s_base_leaf_hooks_is_built_called_and_trained():
    leaf = LearnedExponentialLeaf(num_components=2)
    model = leaf_model(leaf, num_vars=2)
    model.build((None, 2))
    assert leaf.shape_seen == (1, 2, 1, 2, 1) and leaf.cells_seen == (2, 1)
    x = np.random.default_rng(1).exponential(size=(64, 2)).astype(np.float32)
    rate = np.exp(leaf.log_rate.numpy())[0, :, 0, :, 0]  # [vars, components]: all 1 at first
    np.testing.assert_allclose(
        leaf(x[:, :, None, None]).numpy()[:, :, 0, :], np.log(rate) - rate * x[:, :, None], rtol=1e-6
    )
    # Gradient training reaches the hook's weight: the rates move towards 1 / mean.
    x = x * 4.0
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model.fit(x, epochs=30, batch_size=64, verbose=0)
    learned = np.exp(leaf.log_rate.numpy())
    assert np.all(learned < 0.6), learned
