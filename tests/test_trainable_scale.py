"""Trainable leaf scales stored as libspn-keras 0.6.0 stores them: the variable ``scale`` holds softplus^-1(scale).

Gradient steps move that raw value (``-lr * dL/dscale * sigmoid(raw)`` for SGD), kept ``>= -2`` after every
step; ``set_weights`` with a 0.6.0 weights list gives 0.6.0's scales. Checked against numpy.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import constraints, layers, losses, models


def softplus(x):
    return np.logaddexp(0.0, np.asarray(x, np.float64))


def softplus_inverse(y):
    y = np.asarray(y, np.float64)
    return y + np.log(-np.expm1(-y))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


LEAVES = [layers.NormalLeaf, layers.LaplaceLeaf, layers.CauchyLeaf]


@pytest.mark.parametrize("cls", LEAVES, ids=lambda c: c.__name__)
def test_trainable_scale_variable_holds_the_softplus_inverse(cls):
    scales = np.array([1e-3, 0.5, 1.0, 3.0, 1e4], np.float32).reshape(5, 1, 1)
    leaf = cls(num_components=1, scale_trainable=True, scale_initializer=keras.initializers.Constant(scales))
    leaf.build((None, 5, 1))
    assert [w.name for w in leaf.weights] == ["location", "scale"]
    assert [w is leaf.scale for w in leaf.trainable_weights] == [False, True]
    np.testing.assert_allclose(leaf.scale.numpy(), softplus_inverse(scales), rtol=1e-6)
    np.testing.assert_allclose(leaf.scale_tensor().numpy(), scales, rtol=1e-6)
    # 0.6.0's variable constraint: the raw value is kept >= -2.
    np.testing.assert_allclose(leaf.scale.constraint(tf.constant([-5.0, -2.0, 0.3])).numpy(), [-2.0, -2.0, 0.3])


@pytest.mark.parametrize("cls", LEAVES, ids=lambda c: c.__name__)
def test_fixed_scale_and_em_statistics_store_the_scale(cls):
    scales = np.array([0.5, 2.0], np.float32).reshape(2, 1, 1)
    leaf = cls(num_components=1, scale_initializer=keras.initializers.Constant(scales))
    leaf.build((None, 2, 1))
    np.testing.assert_allclose(leaf.scale.numpy(), scales)
    np.testing.assert_allclose(leaf.scale_tensor().numpy(), scales)
    assert not leaf.scale.trainable
    if cls is not layers.CauchyLeaf:
        constant = keras.initializers.Constant(scales)
        em = cls(num_components=1, use_accumulators=True, scale_trainable=True, scale_initializer=constant)
        em.build((None, 2, 1))
        np.testing.assert_allclose(em.scale_tensor().numpy(), scales, rtol=1e-6)


def test_scale_constraint_applies_when_the_scale_is_read():
    # As in 0.6.0: to the scale itself when fixed, to softplus(raw) when trainable; also to values set afterwards.
    fixed = layers.NormalLeaf(num_components=1, scale_constraint=constraints.GreaterEqualEpsilon(0.3))
    fixed.build((None, 2, 1))
    fixed.scale.assign(np.array([0.1, 0.5], np.float32).reshape(2, 1, 1))
    np.testing.assert_allclose(fixed.scale_tensor().numpy().ravel(), [0.3, 0.5])
    trained = layers.NormalLeaf(
        num_components=1, scale_trainable=True, scale_constraint=constraints.GreaterEqualEpsilon(0.3)
    )
    trained.build((None, 2, 1))
    trained.scale.assign(np.array([-1.5, 0.0], np.float32).reshape(2, 1, 1))
    np.testing.assert_allclose(trained.scale_tensor().numpy().ravel(), [0.3, np.log(2.0)], rtol=1e-6)


def one_variable_model(location, scale, location_trainable=True):
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[1]),
            layers.NormalLeaf(
                num_components=1,
                scale_trainable=True,
                location_trainable=location_trainable,
                location_initializer=keras.initializers.Constant(location),
                scale_initializer=keras.initializers.Constant(scale),
            ),
            layers.RootSum(return_weighted_child_logits=False),
        ],
        unsupervised=True,
    )
    model(np.zeros((1, 1), np.float32))
    return model


def leaf_of(model):
    return next(layer for layer in model.layers if isinstance(layer, layers.NormalLeaf))


def nll_gradients(x, location, scale):
    """d/dlocation and d/dscale of the mean of -log N(x; location, scale) over the batch."""
    d = x - location
    return -np.mean(d) / scale**2, np.mean(1.0 / scale - d**2 / scale**3)


def test_sgd_steps_move_the_raw_scale_as_numpy_says():
    x = np.array([-1.0, 0.25, 0.5, 2.0, 3.5, -0.75], np.float64)
    location, scale, lr = 0.3, 0.8, 0.1
    model = one_variable_model(location, scale)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss=losses.NegativeLogLikelihood())
    leaf = leaf_of(model)
    raw = softplus_inverse(scale)
    for _ in range(2):
        model.fit(x[:, None].astype(np.float32), epochs=1, batch_size=len(x), shuffle=False, verbose=0)
        d_location, d_scale = nll_gradients(x, location, softplus(raw))
        location -= lr * d_location
        raw = max(raw - lr * d_scale * sigmoid(raw), -2.0)
        np.testing.assert_allclose(float(np.squeeze(leaf.location.numpy())), location, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(float(np.squeeze(leaf.scale.numpy())), raw, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(float(np.squeeze(leaf.scale_tensor().numpy())), softplus(raw), rtol=1e-5)
    assert raw > -2.0, "the steps above are not floored"


def test_raw_scale_is_floored_at_minus_two_after_a_step():
    # Data at the location: dL/dscale = 1/scale > 0, a long step shrinks the scale below softplus(-2).
    x = np.array([0.0, 0.01, -0.01, 0.0], np.float32)
    model = one_variable_model(0.0, 1.0, location_trainable=False)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=10.0), loss=losses.NegativeLogLikelihood())
    leaf = leaf_of(model)
    raw = softplus_inverse(1.0)
    _, d_scale = nll_gradients(x.astype(np.float64), 0.0, 1.0)
    assert raw - 10.0 * d_scale * sigmoid(raw) < -2.0
    model.fit(x[:, None], epochs=1, batch_size=len(x), shuffle=False, verbose=0)
    np.testing.assert_allclose(float(np.squeeze(leaf.scale.numpy())), -2.0)
    np.testing.assert_allclose(float(np.squeeze(leaf.scale_tensor().numpy())), softplus(-2.0), rtol=1e-6)


def test_set_weights_with_a_060_weights_list_gives_060_scales():
    # 0.6.0's NormalLeaf(scale_trainable=True) lists [location, softplus^-1(scale)]; its scale is softplus of that.
    leaf = layers.NormalLeaf(num_components=2, scale_trainable=True)
    model = keras.Sequential([keras.Input((3, 1)), leaf])
    location = np.arange(6, dtype=np.float32).reshape(3, 2, 1) / 4.0
    raw = np.array([-1.5, -0.2, 0.0, 0.7, 2.0, 9.0], np.float32).reshape(3, 2, 1)
    model.set_weights([location, raw])
    np.testing.assert_allclose(leaf.scale_tensor().numpy(), softplus(raw), rtol=1e-6)
    x = np.linspace(-2.0, 2.0, 12, dtype=np.float32).reshape(4, 3, 1)
    scale = softplus(raw)[..., 0]
    z = (x - location[..., 0]) / scale  # [4, 3, 2]
    expected = -0.5 * z**2 - np.log(scale) - 0.5 * np.log(2.0 * np.pi)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    # The list round-trips between models.
    other = keras.Sequential([keras.Input((3, 1)), layers.NormalLeaf(num_components=2, scale_trainable=True)])
    other.set_weights(model.get_weights())
    np.testing.assert_allclose(other(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("initializer", ["zeros", keras.initializers.Constant(-1.0)])
def test_initial_trainable_scales_are_checked_before_the_inverse(initializer):
    leaf = layers.NormalLeaf(num_components=2, scale_trainable=True, scale_initializer=initializer, name="leaf")
    with pytest.warns(UserWarning, match=r"NormalLeaf 'leaf': 4 initial value\(s\) of 'scale' are not valid"):
        leaf(tf.zeros((3, 2, 1)))
    np.testing.assert_allclose(leaf.scale_tensor().numpy(), 1e-4, rtol=1e-5)
    refused = layers.NormalLeaf(
        num_components=2,
        scale_trainable=True,
        scale_initializer="zeros",
        scale_constraint=keras.constraints.NonNeg(),
        name="refused",
    )
    with pytest.raises(ValueError, match=r"NormalLeaf 'refused': the initial values of 'scale' must be positive"):
        refused(tf.zeros((3, 2, 1)))


def test_xla_training_takes_the_same_steps():
    x = np.random.default_rng(3).normal(size=(8, 1)).astype(np.float32)
    results = []
    for jit_compile in (False, True):
        model = one_variable_model(0.2, 0.7)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=0.05),
            loss=losses.NegativeLogLikelihood(),
            jit_compile=jit_compile,
        )
        model.fit(x, epochs=3, batch_size=4, shuffle=False, verbose=0)
        results.append([w.numpy() for w in leaf_of(model).weights])
    for eager, compiled in zip(*results):
        np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)
