"""A learning-rate schedule of the EM optimizer is kept in [0, 1], the range a number is checked against."""

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models, optimizers
from libspn_keras.math.em_roles import leaf_moments


class _Constant(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, value):
        self.value = value

    def __call__(self, step):
        return self.value

    def get_config(self):
        return {"value": self.value}


def _fit(learning_rate, epochs=3, callbacks=None, jit_compile=False, **optimizer_kwargs):
    """The leaf's variances and the root's weights after ``epochs`` of EM at ``learning_rate`` (a fresh model).

    Graph mode but where ``jit_compile`` says otherwise: each call compiles a new model's step, ~1 s under XLA. A
    schedule is kept in [0, 1] under the default compile (XLA) in test_schedule_above_one_steps_as_one; a schedule
    and a variable learning rate are read at every step under it in
    test_em.py::test_soft_em_step_follows_a_learning_rate_schedule and
    test_online_em_variable_lr_callbacks.py::test_learning_rate_scheduler_assigns_a_variable_learning_rate_of_online_em.
    """
    keras.utils.set_random_seed(0)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input(shape=(1,)),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2, use_accumulators=True, scale_trainable=True),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    model.compile(
        optimizer=optimizers.OnlineExpectationMaximization(learning_rate, **optimizer_kwargs), jit_compile=jit_compile
    )
    x = np.random.default_rng(0).normal(size=(12, 1)).astype(np.float32)
    model.fit(x, batch_size=3, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)
    leaf, root = model.layers[1], model.layers[2]
    return leaf_moments(leaf.statistics)[1].numpy(), root.accumulators.numpy()


def test_schedule_above_one_steps_as_one():
    # Under the default compile (XLA): the clipping of a schedule in a compiled step.
    variance, weights = _fit(_Constant(1.8), jit_compile="auto")
    assert np.all(variance > 0)
    expected_variance, expected_weights = _fit(1.0, jit_compile="auto")
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-6)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-6, atol=1e-9)


def test_negative_schedule_value_leaves_everything():
    before_variance, before_weights = _fit(0.0)
    variance, weights = _fit(_Constant(-0.5))
    np.testing.assert_allclose(variance, before_variance, rtol=1e-6)
    np.testing.assert_allclose(weights, before_weights, rtol=1e-6, atol=1e-9)


def test_a_variable_learning_rate_is_read_at_every_step_as_in_060():
    # 0.6.0's optimizer took a tf.Variable and read it at every step; Keras 3 optimizers refuse one.
    rate = tf.Variable(0.3)

    class StopLearning(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rate.assign(0.0)

    frozen_after_one_epoch = _fit(rate, callbacks=[StopLearning()])  # 3 epochs, the last two at rate 0
    np.testing.assert_allclose(frozen_after_one_epoch[1], _fit(0.3, epochs=1)[1], rtol=1e-6, atol=1e-9)
    rate.assign(0.25)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizers.OnlineExpectationMaximization(rate)))
    assert float(restored.learning_rate) == 0.25


def test_a_float64_variable_learning_rate_is_restored_in_float64():
    rate = tf.Variable(0.1234567890123, dtype="float64")
    optimizer = optimizers.OnlineExpectationMaximization(rate)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert restored.learning_rate.dtype == tf.float64
    assert float(restored.learning_rate) == 0.1234567890123


def test_060_time_based_decay_steps_as_keras_inverse_time_decay():
    # 0.6.0's optimizer took Keras 2's decay=: step t uses lr / (1 + decay * t), Keras's InverseTimeDecay with
    # decay_steps=1. Keras 3 dropped the argument (it only warned), so such scripts trained at a constant rate.
    by_decay = _fit(0.6, decay=0.5)
    by_schedule = _fit(keras.optimizers.schedules.InverseTimeDecay(0.6, decay_steps=1, decay_rate=0.5))
    constant = _fit(0.6)
    for a, b, c in zip(by_decay, by_schedule, constant):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        assert not np.allclose(a, c)
    config = optimizers.OnlineExpectationMaximization(0.6, decay=0.5).get_config()
    assert optimizers.OnlineExpectationMaximization.from_config(config).decay == 0.5
