"""Global defaults for sum layers; the EM optimizer's configuration, 0.6.0 spellings and warnings."""

import re

import numpy as np
import pytest
from tensorflow import keras

import libspn_keras as spn
from libspn_keras import config, constraints, initializers, layers, optimizers


@pytest.fixture
def restore_constraints():
    saved = {name: config.get_default(name) for name in config.DEFAULT_NAMES}
    yield
    for name, value in saved.items():
        config.set_default(name, value)


def test_stored_defaults_are_read_and_restored_by_name(restore_constraints):
    assert set(config.DEFAULT_NAMES) == {
        "sum_op",
        "accumulator_initializer",
        "linear_accumulator_constraint",
        "logspace_accumulator_constraint",
    }
    assert config.get_default("sum_op") == "grad"
    assert config.get_default("linear_accumulator_constraint") is None
    clip = constraints.Clip(0.1, 2.0)
    spn.set_default_linear_accumulators_constraint(clip)
    spn.set_default_sum_op("em")
    assert config.get_default("linear_accumulator_constraint") is clip
    assert isinstance(config.get_default("sum_op"), spn.SumOpEMBackprop)
    # None restores the built-in default; set_default stores other values as they are.
    config.set_default("linear_accumulator_constraint", None)
    config.set_default("sum_op", None)
    assert config.get_default("linear_accumulator_constraint") is None
    assert isinstance(spn.get_default_linear_accumulators_constraint(), constraints.GreaterEqualEpsilon)
    assert isinstance(spn.sum_ops.get_default_sum_op(), spn.SumOpGradBackprop)
    config.set_default("linear_accumulator_constraint", clip)
    assert spn.get_default_linear_accumulators_constraint() is clip
    for bad in ("sum_ops", "scale_constraint"):
        with pytest.raises(ValueError, match="unknown default"):
            config.get_default(bad)
        with pytest.raises(ValueError, match="unknown default"):
            config.set_default(bad, None)


def test_builtin_defaults():
    # Not 0.6.0's normalizing ones: gradients pass through the normalization (docs/guide/migration.md).
    assert isinstance(spn.get_default_linear_accumulators_constraint(), constraints.GreaterEqualEpsilon)
    assert spn.get_default_logspace_accumulators_constraint() is None
    assert isinstance(spn.get_default_accumulator_initializer(logspace_accumulators=False), initializers.Dirichlet)
    assert isinstance(
        spn.get_default_accumulator_initializer(logspace_accumulators=True), keras.initializers.RandomUniform
    )
    for bad in ("no", 2, None):  # 0 and 1 read as False and True, as in 0.6.0
        with pytest.raises(ValueError, match="get_default_accumulator_initializer: logspace_accumulators"):
            spn.get_default_accumulator_initializer(logspace_accumulators=bad)


def test_default_constraints_reach_new_layers(restore_constraints):
    spn.set_default_linear_accumulators_constraint(constraints.Clip(0.2, 5.0))
    spn.set_default_logspace_accumulators_constraint(constraints.Clip(-3.0, 3.0))
    linear = layers.DenseSum(num_sums=2, sum_op="em")
    logspace = layers.DenseSum(num_sums=2, sum_op="grad")
    for layer in (linear, logspace):
        layer.build((None, 1, 1, 3))
    # The constraint actually applied to each layer's accumulators is the default of its space.
    np.testing.assert_allclose(linear.accumulators.constraint(np.array([0.0, 9.0], "float32")), [0.2, 5.0], rtol=1e-6)
    np.testing.assert_allclose(logspace.accumulators.constraint(np.array([-9.0, 9.0], "float32")), [-3.0, 3.0])
    # The typed setters take None as 0.6.0 does: no constraint; set_default(name, None) restores the built-in one.
    spn.set_default_linear_accumulators_constraint(None)
    spn.set_default_logspace_accumulators_constraint(None)
    assert spn.get_default_linear_accumulators_constraint() is None
    assert layers.DenseSum(num_sums=2, sum_op="grad").logspace_accumulator_constraint is None
    config.set_default("linear_accumulator_constraint", None)
    assert isinstance(spn.get_default_linear_accumulators_constraint(), constraints.GreaterEqualEpsilon)


@pytest.mark.parametrize(
    "setter",
    [
        "set_default_accumulator_initializer",
        "set_default_linear_accumulators_constraint",
        "set_default_logspace_accumulators_constraint",
    ],
)
def test_default_setters_refuse_what_keras_cannot_read_by_their_name_and_keep_the_default(setter, restore_constraints):
    # Keras's own "Could not interpret initializer identifier: 5" named neither the setter nor what it takes.
    stored = {name: config.get_default(name) for name in config.DEFAULT_NAMES}
    for bad in (5, "no_such_object", [1.0]):
        with pytest.raises(ValueError, match=f"{setter}: .* must be a Keras .*got {re.escape(repr(bad))}"):
            getattr(spn, setter)(bad)
        assert {name: config.get_default(name) for name in config.DEFAULT_NAMES} == stored
    # What Keras reads by name or config is still taken, as before.
    kind = "initializer" if "initializer" in setter else "constraint"
    if kind == "initializer":
        getattr(spn, setter)("zeros")
        assert isinstance(spn.get_default_accumulator_initializer(), keras.initializers.Zeros)
    else:
        getattr(spn, setter)("non_neg")
        layer = layers.DenseSum(num_sums=2, sum_op="em" if "linear" in setter else "grad")
        layer.build((None, 1, 1, 3))
        constraint = layer.accumulators.constraint
        np.testing.assert_array_equal(constraint(np.array([-1.0, 2.0], "float32")), [0.0, 2.0])


def test_online_em_config_round_trip_and_validation():
    optimizer = optimizers.OnlineExpectationMaximization(
        learning_rate=0.3, accumulate_batches=4, pseudocount=0.01, prior_variance=0.5
    )
    clone = optimizers.OnlineExpectationMaximization.from_config(optimizer.get_config())
    assert clone.accumulate_batches == 4
    assert clone.pseudocount == 0.01 and clone.prior_variance == 0.5
    assert float(clone.learning_rate) == pytest.approx(0.3)
    restored = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(optimizer))
    assert isinstance(restored, optimizers.OnlineExpectationMaximization)
    assert restored.pseudocount == 0.01
    for bad in (0, 1.5, -2, "2", True):
        with pytest.raises(ValueError, match="accumulate_batches"):
            optimizers.OnlineExpectationMaximization(accumulate_batches=bad)
    for bad in (-0.1, float("nan"), float("inf"), "0.1", None):
        with pytest.raises(ValueError, match="pseudocount"):
            optimizers.OnlineExpectationMaximization(pseudocount=bad)
    for bad in (-0.1, 1.5, float("nan"), True, "0.1"):  # 0 (nothing moves) is allowed, as in 0.6.0
        with pytest.raises(ValueError, match="learning_rate"):
            optimizers.OnlineExpectationMaximization(learning_rate=bad)
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="prior_variance"):
            optimizers.OnlineExpectationMaximization(prior_variance=bad)


def test_online_em_defaults_and_060_spellings():
    # 0.6.0's defaults and spellings: learning rate 0.01, ``lr=``, accumulate_batches as a NumPy int.
    optimizer = optimizers.OnlineExpectationMaximization()
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    assert optimizer.accumulate_batches == 1 and optimizer.pseudocount == 0.0
    assert float(optimizers.OnlineExpectationMaximization(lr=0.2).learning_rate) == pytest.approx(0.2)
    assert optimizers.OnlineExpectationMaximization(accumulate_batches=np.int64(3)).accumulate_batches == 3


def test_online_em_updates_gradient_variables_by_the_060_rule_and_warns_once():
    keras.utils.set_random_seed(0)
    leaf = layers.NormalLeaf(num_components=2, name="gradient_leaf")
    root = layers.RootSum(return_weighted_child_logits=False, sum_op="em")
    model = spn.models.SequentialSumProductNetwork([keras.Input((1,)), layers.FlatToRegions(1), leaf, root])
    x = np.random.default_rng(0).normal(size=(50, 1)).astype("float32")
    model(x)
    location = leaf.location.numpy().astype(np.float64).reshape(2)
    scale = leaf.scale.numpy().astype(np.float64).reshape(2)
    weights = root.accumulators.numpy().astype(np.float64).reshape(2)
    weights = weights / weights.sum()
    # The mean gradient of log p(x) with respect to each location, by hand: r_k (x - mu_k) / sigma_k^2.
    data = x.astype(np.float64)
    joint = np.log(weights) - 0.5 * ((data - location) / scale) ** 2 - np.log(scale)
    responsibility = np.exp(joint - joint.max(axis=1, keepdims=True))
    responsibility /= responsibility.sum(axis=1, keepdims=True)
    d_location = (responsibility * (data - location) / scale**2).mean(axis=0)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.5))
    with pytest.warns(UserWarning, match="gradient_leaf/location. As in libspn-keras 0.6.0") as caught:
        model.fit(x, batch_size=50, verbose=0, shuffle=False)
        # libspn-keras 0.6.0 applied (1 - lr) * value + lr * (-gradient) to every variable, these too.
        np.testing.assert_allclose(leaf.location.numpy().reshape(2), 0.5 * location + 0.5 * d_location, rtol=1e-5)
        model.fit(x, batch_size=25, verbose=0)
    assert sum("receive gradients, not EM counts" in str(w.message) for w in caught) == 1
